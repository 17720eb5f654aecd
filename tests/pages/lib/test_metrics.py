"""A feature's cost and working time from its runs (waiting for the person excluded)."""

from __future__ import annotations

from datetime import UTC, datetime

from core.models import AgentRun, AgentRunRole, AgentRunStatus, RunUsage
from pages.lib.metrics import (
    feature_cost,
    feature_elapsed,
    format_cost,
    format_duration,
    spend_text,
)

NOW = datetime(2026, 11, 30, 10, 10, tzinfo=UTC)


def run(
    start: str, end: str | None, *, waiting: float = 0.0, usage: RunUsage | None = None
) -> AgentRun:
    return AgentRun(
        id=f"run_{start}",
        project_id="p",
        feature_id="f",
        role=AgentRunRole.CODER,
        status=AgentRunStatus.COMPLETED if end else AgentRunStatus.WAITING,
        started_at=f"2026-11-30T{start}.000000Z",
        completed_at=f"2026-11-30T{end}.000000Z" if end else None,
        updated_at=f"2026-11-30T{start}.000000Z",
        waiting_seconds=waiting,
        usage=usage,
    )


def test_elapsed_excludes_waiting_and_counts_a_running_step_until_now() -> None:
    runs = [run("10:00:00", "10:02:00"), run("10:05:00", None, waiting=120.0)]
    assert feature_elapsed(runs, NOW) == 120 + 300 - 120


def test_a_run_without_waiting_seconds_tolerates_their_absence() -> None:
    raw = run("10:00:00", "10:01:00").model_dump(by_alias=True)
    raw.pop("waitingSeconds")
    assert feature_elapsed([AgentRun.model_validate(raw)], NOW) == 60


def test_cost_sums_reported_usage_and_is_unknown_without_any() -> None:
    assert feature_cost([run("10:00:00", None)]) is None
    cheap = RunUsage(cost_usd=0.004)
    assert (
        feature_cost([run("10:00:00", None, usage=cheap), run("10:01:00", None, usage=cheap)])
        == 0.008
    )
    assert format_cost(0.008) == "$0.0080"
    assert format_cost(1.5) == "$1.50"
    assert format_duration(3_725) == "1h 02m"
    assert format_duration(61) == "1m 01s"


def test_an_open_question_stops_the_clock_from_when_it_was_asked() -> None:
    asking = run("10:00:00", None, waiting=30.0).model_copy(
        update={"waiting_since": "2026-11-30T10:08:00.000000Z"}
    )
    assert feature_elapsed([asking], NOW) == 600 - 30 - 120


def test_tokens_without_a_price_are_said_as_tokens_never_as_dollars() -> None:
    priced = run("10:00:00", "10:01:00", usage=RunUsage(cost_usd=0.5))
    codex = RunUsage(input_tokens=30_000, output_tokens=5_000, priced=False)
    unpriced = run("10:02:00", None, usage=codex)
    assert feature_cost([priced, unpriced]) == 0.5
    assert spend_text([priced, unpriced]) == "$0.50 + 35,000 tokens (no price known)"
    assert spend_text([unpriced]) == "35,000 tokens (no price known)"
    assert spend_text([run("10:00:00", None)]) is None
    assert RunUsage().plus(codex).priced is False
