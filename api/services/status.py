"""Run status changes and their chat notices: exactly one notice per real change.

The original feature posted a status message every 5 s whether or not anything
changed. Here a notice is posted only when ``set_run_status`` reports a
transition, and that report comes from a DynamoDB conditional update
(``status <> :new``), so even two processes reporting the same phase at once
produce one notice. The notice's id is derived from the status and the moment
the run entered it, so a report retried after the store failed between the
update and the notice posts the missing notice — once — instead of losing it.
"""

from __future__ import annotations

from api.services.bus import MessageBus
from api.services.messages import post_message
from api.store.db import Db
from api.store.runs import RunTransition, get_run, set_run_status
from core.agents import persona
from core.models import AgentRun, AgentRunStatus, MessageSender, MessageType

#: Notice text per phase the run enters.
PHASE_NOTICES: dict[AgentRunStatus, str] = {
    AgentRunStatus.THINKING: "Started thinking phase",
    AgentRunStatus.CODING: "Started coding phase",
    AgentRunStatus.TESTING: "Started testing phase",
    AgentRunStatus.REVIEWING: "Started reviewing phase",
    AgentRunStatus.WAITING: "Waiting for your answer",
}
#: Longest summary or error quoted in a notice (the run item keeps the whole text).
MAX_NOTICE_DETAIL_CHARS = 500


def _clip(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= MAX_NOTICE_DETAIL_CHARS:
        return text
    return text[: MAX_NOTICE_DETAIL_CHARS - 1] + "…"


def describe_transition(run: AgentRun) -> tuple[MessageType, str]:
    """The notice for the status ``run`` has just entered."""
    name = persona(run.role).name
    if run.status is AgentRunStatus.FAILED:
        return MessageType.ERROR, f"{name} failed: {_clip(run.error_message or 'no error given')}"
    if run.status is AgentRunStatus.COMPLETED:
        summary = f": {_clip(run.output_summary)}" if run.output_summary else ""
        return MessageType.STATUS, f"{name} completed step {run.step}{summary}"
    if run.status is AgentRunStatus.STARTED:
        retry = f", attempt {run.attempt}" if run.attempt > 1 else ""
        return MessageType.STATUS, f"{name} started step {run.step} ({run.role.value}{retry})"
    return MessageType.STATUS, PHASE_NOTICES[run.status]


def notice_id(run: AgentRun) -> str:
    """The notice's message id: one per (status, moment the run entered it)."""
    entered = "".join(ch for ch in run.updated_at if ch.isdigit())
    return f"notice-{run.status.value}-{entered}"


def announce(db: Db, bus: MessageBus, *, run: AgentRun) -> None:
    """Post the notice for the run's current status (idempotent: keyed by ``notice_id``)."""
    kind, text = describe_transition(run)
    post_message(
        db,
        bus,
        run=run,
        sender=MessageSender.AGENT,
        role=run.role,
        content=text,
        type=kind,
        message_id=notice_id(run),
    )


def report_status(
    db: Db,
    bus: MessageBus,
    *,
    run_id: str,
    status: AgentRunStatus,
    output_summary: str | None = None,
    error_message: str | None = None,
) -> RunTransition | None:
    """Change a run's status; post one notice if (and only if) it changed."""
    transition = set_run_status(
        db,
        run_id=run_id,
        status=status,
        output_summary=output_summary,
        error_message=error_message,
    )
    if transition is not None:
        announce(db, bus, run=transition.run)
    else:
        # No change now, but the change that set this status may have lost its notice
        # (the store failed between the update and the notice, and the caller retried):
        # post it if missing. The notice id makes this a no-op when it is there.
        announce(db, bus, run=get_run(db, run_id=run_id))
    return transition
