"""The feed window's gap logic and the feature stream's resume ids (pure: no store, no loop)."""

from __future__ import annotations

import pytest

from api.streaming.window import Entry, FeedWindow
from api.streaming.wire import (
    InvalidResumeIdError,
    feature_event_id,
    feature_resume_after,
    parse_feature_event_id,
)


def entries(*sequences: int) -> list[Entry]:
    return [(s, f"e{s}".encode()) for s in sequences]


def sequences(window: FeedWindow, after: int = 0) -> list[int]:
    return [s for s, _ in window.entries_after(max(after, window.base))]


def test_contiguous_entries_extend_the_window() -> None:
    window = FeedWindow()
    result = window.absorb(entries(1, 2, 3))
    assert (result.grew, result.gap) == (True, False)
    assert (window.base, window.head, sequences(window)) == (0, 3, [1, 2, 3])
    assert window.entries_after(1) == entries(2, 3)


def test_an_entry_ahead_is_parked_as_a_gap_until_the_gap_is_filled() -> None:
    window = FeedWindow()
    result = window.absorb(entries(3))
    assert (result.grew, result.gap, window.head, sorted(window.ahead)) == (False, True, 0, [3])
    result = window.absorb(entries(1, 2))
    assert (result.grew, result.gap, window.head, window.ahead) == (True, False, 3, {})
    assert sequences(window) == [1, 2, 3]


def test_duplicates_and_old_entries_are_dropped() -> None:
    window = FeedWindow()
    window.absorb(entries(1, 2))
    result = window.absorb(entries(1, 2, 2, 1))
    assert (result.grew, result.gap) == (False, False)
    assert sequences(window) == [1, 2]


def test_an_unsettled_window_parks_without_calling_it_a_gap() -> None:
    """While the first read is under way a parked entry is not a gap: that read fills it."""
    window = FeedWindow(after=5)
    result = window.absorb(entries(8), settled=False)
    assert (result.grew, result.gap, window.head, sorted(window.ahead)) == (False, False, 5, [8])
    result = window.absorb(entries(6, 7))
    assert (result.grew, result.gap, window.head, sequences(window, 5)) == (
        True,
        False,
        8,
        [6, 7, 8],
    )


def test_restart_at_the_real_head_of_a_shorter_thread() -> None:
    """A stale resume id (50) past a thread that ends at 2: later commits still arrive."""
    window = FeedWindow(after=50)
    window.restart_at(2)
    window.absorb(entries(3))
    assert (window.base, window.head, sequences(window, 2)) == (2, 3, [3])


def test_the_window_trims_past_its_capacity_plus_slack_and_stops_covering_old_cursors() -> None:
    window = FeedWindow(capacity=10, slack=5)
    window.absorb(entries(*range(1, 16)))
    assert (window.base, len(window.entries)) == (0, 15)  # within the slack: no copy yet
    window.absorb(entries(16))
    assert (window.base, window.head, len(window.entries)) == (6, 16, 10)
    assert not window.covers(5)
    assert window.covers(6)
    assert [s for s, _ in window.entries_after(14)] == [15, 16]


RUN_A = "run_" + "0a" * 16
RUN_B = "run_" + "b1" * 16


def test_feature_ids_round_trip_by_run_identity() -> None:
    event_id = feature_event_id({RUN_A: 12, RUN_B: 3, "run_other": 0})
    assert event_id.startswith("f.")
    assert len(event_id) < 60  # 22 characters per run, not 36
    assert parse_feature_event_id(event_id) == {RUN_A: 12, RUN_B: 3}
    assert parse_feature_event_id("f") == {}
    assert parse_feature_event_id(feature_event_id({"legacy-id": 4})) == {"legacy-id": 4}


def test_feature_resume_prefers_the_header_and_reads_the_query() -> None:
    header = feature_event_id({RUN_A: 2})
    query = feature_event_id({RUN_B: 9})
    assert feature_resume_after(header=header, query=query) == {RUN_A: 2}
    assert feature_resume_after(header="  ", query=query) == {RUN_B: 9}
    assert feature_resume_after(header=None, query=None) == {}


@pytest.mark.parametrize(
    "bad",
    ["000000000012", "f.", "f.abc:1", "g.AAAAAAAAAAAAAAAAAAAAAA:1", "f.AAAAAAAAAAAAAAAAAAAAAA:x"],
)
def test_a_bad_feature_id_is_a_sentence(bad: str) -> None:
    with pytest.raises(InvalidResumeIdError, match="is not a feature stream event id"):
        parse_feature_event_id(bad)
