"""The monitor loop's work for one tick: step processes, then user messages and inboxes.

Every ``monitor_interval_seconds`` (5 s by default) the supervisor calls
``check_step`` for each step process this API process started, and
``FeaturePipeline.refresh_inbox`` for each pipeline it runs:

* a step whose process exited, ran past its timeout, or whose run was ended
  by someone else (cancel from another API process) is concluded: the run's
  final status is stored through ``report_status`` (one notice per real change)
  and the pipeline learns the outcome;
* new user messages of the feature's runs are fetched after the persisted
  relay cursors, kept pending for the next step, and written to the running
  step's ``.omakase/inbox.md`` (with a receipt and a delivery notice).
"""

from __future__ import annotations

import logging

from api.agents.steps import ActiveStep, conclude
from api.services.bus import MessageBus
from api.store.db import Db
from api.store.runs import get_run

log = logging.getLogger(__name__)


def step_needs_concluding(db: Db, step: ActiveStep) -> tuple[bool, bool]:
    """``(conclude, timed_out)`` for a step (blocking: reads the run when still running)."""
    if step.process.poll() is not None:
        return True, False
    if step.process.elapsed() > step.timeout_s:
        return True, True
    # Ended elsewhere (cancel in another API process, or by the agent itself).
    return get_run(db, run_id=step.run.id).status.is_terminal, False


def check_step(db: Db, bus: MessageBus, step: ActiveStep) -> None:
    """Conclude the step if it is over; blocking, called in a worker thread."""
    if step.concluding:
        return
    done, timed_out = step_needs_concluding(db, step)
    if not done or not step.begin_concluding():
        return
    try:
        outcome = conclude(db, bus, step, timed_out=timed_out)
    except Exception:
        step.retry_concluding()  # try again next tick (e.g. the store was unreachable)
        raise
    step.resolve(outcome)
