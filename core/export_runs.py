"""One row per run with what it cost: the runs side of the pandas export.

Beside ``core.export`` (one row per message); the runs tab and scripts that
total a feature's cost read this one.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from core.export import AGENT_NAMES
from core.models import AgentRun

#: The columns of ``runs_frame``: one row per run, with its cost.
RUN_COLUMNS: tuple[str, ...] = (
    "projectId",
    "featureId",
    "featureName",
    "runId",
    "step",
    "attempt",
    "role",
    "agentName",
    "status",
    "startedAt",
    "completedAt",
    "waitingSeconds",
    "turns",
    "inputTokens",
    "outputTokens",
    "costUsd",
)


def runs_frame(runs: Iterable[AgentRun], feature_names: dict[str, str]) -> pd.DataFrame:
    """One row per run, oldest first, with what it cost (nulls where nothing was reported)."""
    rows = []
    for run in sorted(runs, key=lambda r: r.started_at):
        usage = run.usage
        rows.append(
            {
                "projectId": run.project_id,
                "featureId": run.feature_id,
                "featureName": feature_names.get(run.feature_id, ""),
                "runId": run.id,
                "step": run.step,
                "attempt": run.attempt,
                "role": run.role.value,
                "agentName": AGENT_NAMES[run.role.value],
                "status": run.status.value,
                "startedAt": run.started_at,
                "completedAt": run.completed_at,
                "waitingSeconds": run.waiting_seconds,
                "turns": usage.turns if usage else None,
                "inputTokens": usage.input_tokens if usage else None,
                "outputTokens": usage.output_tokens if usage else None,
                "costUsd": usage.cost_usd if usage else None,
            }
        )
    frame = pd.DataFrame(rows, columns=list(RUN_COLUMNS))
    for column in ("turns", "inputTokens", "outputTokens"):
        frame[column] = frame[column].astype(pd.Int64Dtype())
    frame["costUsd"] = frame["costUsd"].astype("float64")
    return frame
