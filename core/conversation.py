"""A feature's conversation: its runs in pipeline order (shared by the API and the dashboard).

Why one ordering: the feature stream's event ids are positions in this order
(``api.streaming.feature_ids``) and the dashboard draws a step divider per run in
it, so both must agree. The key follows creation: the pipeline numbers steps
upwards and retries a step with the next attempt; the start time and id only
break the tie of a step that a new pipeline owner re-ran after a crash (created
after the stale-claim timeout, so later by far more than any clock skew).
"""

from __future__ import annotations

from collections.abc import Iterable

from core.models import AgentRun


def run_order_key(run: AgentRun) -> tuple[int, int, str, str]:
    return run.step, run.attempt, run.started_at, run.id


def order_runs(runs: Iterable[AgentRun]) -> list[AgentRun]:
    """The runs oldest first, each once."""
    unique = {run.id: run for run in runs}
    return sorted(unique.values(), key=run_order_key)
