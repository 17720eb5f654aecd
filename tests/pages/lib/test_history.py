"""The history page's pandas helpers: filters, messages over time, reply delays."""

from __future__ import annotations

import pandas as pd

from core.export import COLUMNS, to_frame
from pages.lib.history import filter_frame, messages_over_time, reply_delays


def row(seconds: int, sender: str, content: str, *, type: str = "message", run: str = "run_1"):  # type: ignore[no-untyped-def]
    base = dict.fromkeys(COLUMNS)
    base.update(
        runId=run,
        cursor=f"{seconds:012d}",
        timestamp=f"2026-11-24T05:00:{seconds:02d}.000000Z",
        sender=sender,
        type=type,
        content=content,
        agentName="Nori",
        role="coder",
    )
    return base


def frame() -> pd.DataFrame:
    return to_frame(
        [
            row(1, "agent", "Started", type="status"),
            row(2, "user", "more garlic"),
            row(3, "user", "and salt"),
            row(9, "agent", "Got it"),
            row(20, "user", "unanswered"),
            row(5, "user", "other run", run="run_2"),
            row(7, "agent", "ok", run="run_2"),
        ]
    )


def test_filters_by_sender_and_type() -> None:
    data = frame()
    assert len(filter_frame(data)) == 7
    assert set(filter_frame(data, senders=["agent"])["content"]) == {"Started", "Got it", "ok"}
    assert list(filter_frame(data, types=["status"])["content"]) == ["Started"]


def test_messages_over_time_counts_per_agent() -> None:
    counted = messages_over_time(frame())
    assert counted.groupby("who")["messages"].sum().to_dict() == {"Nori": 3, "You": 4}


def test_reply_delays_per_user_message() -> None:
    delays = reply_delays(frame())
    assert sorted(zip(delays["question"], delays["seconds"], strict=True)) == [
        ("and salt", 6.0),
        ("more garlic", 7.0),
        ("other run", 2.0),
    ]
