"""Cancelling a run: the run fails with "Cancelled by user" (an error notice in the chat).

The store write comes first and is what counts: whichever API process runs the
step sees the run ended at its next monitor tick (or at once, if it is this
process) and stops the process; the pipeline then fails the feature.
"""

from __future__ import annotations

from api.agents.steps import CANCELLED_BY_USER
from api.services.bus import MessageBus
from api.services.status import report_status
from api.store.db import Db
from api.store.errors import ConflictError
from api.store.runs import get_run
from core.models import AgentRun, AgentRunStatus


def cancel_run(db: Db, bus: MessageBus, *, run_id: str) -> AgentRun:
    """Mark an active run cancelled; ``ConflictError`` if it already ended."""
    run = get_run(db, run_id=run_id)
    if run.status.is_terminal:
        raise ConflictError(f"Agent run {run_id} has already ended ({run.status.value}).")
    transition = report_status(
        db, bus, run_id=run_id, status=AgentRunStatus.FAILED, error_message=CANCELLED_BY_USER
    )
    if transition is None:
        raise ConflictError(f"Agent run {run_id} has already ended (failed).")
    return transition.run
