"""Pure helpers of the history page: filtering and the two charts' data (pandas only)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

#: Bucket of the "messages over time" chart.
TIME_BUCKET = "1min"


def instants(column: pd.Series) -> pd.Series:
    """The export's ISO 8601 UTC strings as timezone-aware timestamps."""
    return pd.to_datetime(column, utc=True, format="ISO8601")


def filter_frame(
    frame: pd.DataFrame, *, senders: Sequence[str] = (), types: Sequence[str] = ()
) -> pd.DataFrame:
    """Rows whose sender and type are among the chosen ones (empty choice = all)."""
    mask = pd.Series(True, index=frame.index)
    if senders:
        mask &= frame["sender"].isin(list(senders))
    if types:
        mask &= frame["type"].isin(list(types))
    return frame[mask]


def messages_over_time(frame: pd.DataFrame, *, bucket: str = TIME_BUCKET) -> pd.DataFrame:
    """Message counts per time bucket and agent (user messages count as "You")."""
    if frame.empty:
        return pd.DataFrame(columns=["time", "who", "messages"])
    who = frame["agentName"].fillna("Agent").where(frame["sender"] == "agent", "You")
    counted = (
        pd.DataFrame({"time": instants(frame["timestamp"]).dt.floor(bucket), "who": who})
        .groupby(["time", "who"], as_index=False)
        .size()
        .rename(columns={"size": "messages"})
    )
    return counted


def reply_delays(frame: pd.DataFrame) -> pd.DataFrame:
    """For each user message, seconds until the agent's next message in the same run.

    Unanswered messages are left out (the chart is about how fast agents answer).
    """
    chat = frame[frame["type"] == "message"].sort_values(["runId", "cursor"])
    chat = chat.assign(timestamp=instants(chat["timestamp"]))
    rows: list[dict[str, object]] = []
    for run_id, thread in chat.groupby("runId", sort=False):
        waiting: list[pd.Series] = []
        for _, message in thread.iterrows():
            if message["sender"] == "user":
                waiting.append(message)
            elif waiting:
                for asked in waiting:
                    rows.append(
                        {
                            "runId": run_id,
                            "agentName": message["agentName"],
                            "askedAt": asked["timestamp"],
                            "question": str(asked["content"])[:80],
                            "seconds": (message["timestamp"] - asked["timestamp"]).total_seconds(),
                        }
                    )
                waiting = []
    return pd.DataFrame(rows, columns=["runId", "agentName", "askedAt", "question", "seconds"])
