"""One running step, and how its end becomes a run status and a pipeline outcome.

The run item is the source of truth for a step's outcome (``outcome_of``): the
monitor writes it when the process exits (exit code → completed/failed, the
reviewer's 2 → completed with a "requested changes" summary), cancel writes
"Cancelled by user", a stopping API process writes "Interrupted: …". A process
that resumes a pipeline reads the same run item and reaches the same decision.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from api.agents.plan import EXIT_APPROVE, EXIT_REQUEST_CHANGES, Outcome
from api.agents.process import StepProcess
from api.services.bus import MessageBus
from api.services.questions import expire_if_open
from api.services.status import report_status
from api.store.db import Db
from api.store.errors import ConflictError, StoreUnavailableError
from api.store.runs import get_run
from core.agents import REQUESTED_CHANGES_SUMMARY as REQUESTED_CHANGES_SUMMARY
from core.models import AgentRun, AgentRunRole, AgentRunStatus

if TYPE_CHECKING:
    from api.agents.live.step import LiveStep

log = logging.getLogger(__name__)

CANCELLED_BY_USER = "Cancelled by user"
INTERRUPTED_PREFIX = "Interrupted:"
INTERRUPTED_BY_SHUTDOWN = (
    f"{INTERRUPTED_PREFIX} the API process running this step stopped; "
    "the step runs again when the pipeline resumes."
)
#: Longest stderr tail quoted in a failure message.
MAX_STDERR_QUOTE = 300


def interrupted_by_dead_owner(owner_id: str, silent_s: float | None) -> str:
    since = f" for {silent_s:.0f} s" if silent_s is not None else ""
    return (
        f"{INTERRUPTED_PREFIX} the API process running this step (worker {owner_id}) "
        f"stopped heartbeating{since}; the step runs again in another process."
    )


def outcome_of(run: AgentRun) -> Outcome | None:
    """The pipeline outcome a concluded run stands for (None while it is active)."""
    if run.status is AgentRunStatus.COMPLETED:
        if run.role is AgentRunRole.REVIEWER and (run.output_summary or "").startswith(
            REQUESTED_CHANGES_SUMMARY
        ):
            return Outcome.CHANGES_REQUESTED
        return Outcome.COMPLETED
    if run.status is AgentRunStatus.FAILED:
        error = run.error_message or ""
        if error == CANCELLED_BY_USER:
            return Outcome.CANCELLED
        if error.startswith(INTERRUPTED_PREFIX):
            return Outcome.INTERRUPTED
        return Outcome.FAILED
    return None


@dataclass(frozen=True, slots=True)
class StepNotStarted:
    """A step whose process could not start: the run already failed with ``detail``."""

    outcome: Outcome
    detail: str


@dataclass
class ActiveStep:
    run: AgentRun
    process: StepProcess
    timeout_s: float
    future: asyncio.Future[Outcome]
    loop: asyncio.AbstractEventLoop
    #: The live session of a claude or codex step (None for the demo and command runners).
    live: LiveStep | None = None
    #: Commits the step's work on the feature's branch (``FeaturePipeline._commit``).
    commit: Callable[[], None] | None = None
    #: Set once the monitor (or shutdown, or cancel) has started concluding the step.
    concluding: bool = False
    detail: str = field(default="")
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def begin_concluding(self) -> bool:
        """True for exactly one caller: the one that concludes the step."""
        with self._lock:
            if self.concluding:
                return False
            self.concluding = True
            return True

    def retry_concluding(self) -> None:
        with self._lock:
            self.concluding = False

    def resolve(self, outcome: Outcome) -> None:
        def _set() -> None:
            if not self.future.done():
                self.future.set_result(outcome)

        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
            self.loop.call_soon_threadsafe(_set)


def _report(
    db: Db,
    bus: MessageBus,
    run_id: str,
    status: AgentRunStatus,
    *,
    output_summary: str | None = None,
    error_message: str | None = None,
) -> AgentRun:
    """Report a final status; if the run already ended, the stored status stands."""
    with contextlib.suppress(ConflictError):
        report_status(
            db,
            bus,
            run_id=run_id,
            status=status,
            output_summary=output_summary,
            error_message=error_message,
        )
    return get_run(db, run_id=run_id)


def _commit(step: ActiveStep) -> str | None:
    """Commit the step's work; the sentence a failed commit fails the step with (else None)."""
    if step.commit is None:
        return None
    try:
        step.commit()
    except StoreUnavailableError:
        raise  # the monitor concludes the step again next tick; the commit is idempotent
    except Exception as error:  # a broken workspace must fail the step, not the monitor
        log.warning("run %s: could not commit the step's work", step.run.id, exc_info=True)
        message = f"Could not commit the step's work: {error}"
        step.process.pump.system("✖ " + message)
        return message
    return None


def conclude(
    db: Db, bus: MessageBus, step: ActiveStep, *, timed_out: bool = False, error: str | None = None
) -> Outcome:
    """Stop what is left of the step's process, store the run's final status, return the outcome.

    ``error`` ends a still-running step as failed with that message (shutdown).
    Blocking: call it from a worker thread.
    """
    code = step.process.poll()
    untaken = step.live.end() if step.live is not None else []
    if code is None or timed_out or error:
        code = step.process.stop()
    else:
        step.process.stop()  # children the agent left behind
    step.process.finish_logs()
    step.process.pump.system(f"■ step {step.run.step} ({step.run.role.value}) exit code {code}")
    commit_failure = _commit(step)
    failure: str | None = None
    if step.live is not None:
        verdict = step.live.verdict(code)
        code, failure = verdict.code, verdict.failure
        if untaken:
            step.process.pump.system(
                f"{len(untaken)} message(s) written but not taken before the step ended: "
                "they go to the next step"
            )
    stored = get_run(db, run_id=step.run.id)
    if stored.status.is_terminal:
        outcome = outcome_of(stored)
    elif error is not None:
        outcome = outcome_of(
            _report(db, bus, step.run.id, AgentRunStatus.FAILED, error_message=error)
        )
    elif commit_failure is not None:
        outcome = outcome_of(
            _report(db, bus, step.run.id, AgentRunStatus.FAILED, error_message=commit_failure)
        )
    elif timed_out:
        message = f"Timed out after {step.timeout_s:.0f} s; the agent was stopped."
        outcome = outcome_of(
            _report(db, bus, step.run.id, AgentRunStatus.FAILED, error_message=message)
        )
    elif code == EXIT_APPROVE:
        outcome = outcome_of(_report(db, bus, step.run.id, AgentRunStatus.COMPLETED))
    elif step.run.role is AgentRunRole.REVIEWER and code == EXIT_REQUEST_CHANGES:
        summary = f"{REQUESTED_CHANGES_SUMMARY} (exit code {code}); the coder revises."
        outcome = outcome_of(
            _report(db, bus, step.run.id, AgentRunStatus.COMPLETED, output_summary=summary)
        )
    else:
        tail = step.process.pump.last_stderr[:MAX_STDERR_QUOTE]
        reason = failure or f"The agent exited with code {code}"
        message = reason + (f": {tail}" if tail else ".")
        outcome = outcome_of(
            _report(db, bus, step.run.id, AgentRunStatus.FAILED, error_message=message)
        )
    expire_if_open(db, bus, run_id=step.run.id)  # the agent died waiting for an answer
    final = outcome or Outcome.FAILED
    step.detail = get_run(db, run_id=step.run.id).error_message or ""
    return final
