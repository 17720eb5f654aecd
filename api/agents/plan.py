"""The pipeline's state machine: which step runs next, and when the feature is done.

Pure (no I/O), so every rule has a unit test. The checkpoint is stored on the
feature item after each transition (``api.store.claims.save_checkpoint``), so
another API process can resume a pipeline exactly where it stopped.

Rules: architect → coder → reviewer → tester. A failed step runs once more
(attempt 2); a second failure fails the feature. The reviewer's exit code
decides: 0 approves, 2 requests changes (the coder and the reviewer run once
more; a second request fails the feature). A cancelled step fails the feature.
A step interrupted by its API process stopping runs again as the next attempt
(an interruption is not the agent's failure, so it does not use up the retry),
but interruptions are counted and capped too: a step that takes its API process
down every time it runs (or that keeps being cut short) fails the feature after
``MAX_INTERRUPTIONS_PER_STEP`` instead of running forever.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

from core.agents import PIPELINE_ROLES, persona
from core.models import AgentRunRole, FeatureStatus

#: A failed step is retried once.
MAX_FAILURES_PER_STEP = 2
#: A step interrupted this many times (its API process stopped each time) fails the feature.
MAX_INTERRUPTIONS_PER_STEP = 3
#: "Request changes" cycles (coder + reviewer once more) before the feature fails.
MAX_REVIEW_CYCLES = 1
#: Reviewer exit codes.
EXIT_APPROVE = 0
EXIT_REQUEST_CHANGES = 2


class Outcome(StrEnum):
    COMPLETED = "completed"
    CHANGES_REQUESTED = "changes_requested"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    step: int = 1
    role: AgentRunRole = AgentRunRole.ARCHITECT
    attempt: int = 1
    #: Failures of this step so far (interruptions do not count).
    failures: int = 0
    #: Interruptions of this step so far (capped apart from failures).
    interruptions: int = 0
    review_cycles: int = 0
    #: The run of this step that started and has not been concluded yet.
    run_id: str | None = None

    def to_item(self) -> dict[str, Any]:
        item = asdict(self)
        item["role"] = self.role.value
        return {key: value for key, value in item.items() if value is not None}

    @classmethod
    def from_item(cls, item: dict[str, Any] | None) -> Checkpoint:
        if not item:
            return cls()
        return cls(
            step=int(item.get("step", 1)),
            role=AgentRunRole(item.get("role", AgentRunRole.ARCHITECT.value)),
            attempt=int(item.get("attempt", 1)),
            failures=int(item.get("failures", 0)),
            interruptions=int(item.get("interruptions", 0)),
            review_cycles=int(item.get("review_cycles", 0)),
            run_id=item.get("run_id"),
        )


@dataclass(frozen=True, slots=True)
class Decision:
    #: The step to run next, or None when the feature is done.
    next: Checkpoint | None
    final: FeatureStatus | None = None
    error: str | None = None


def _next_step(current: Checkpoint, role: AgentRunRole, **changes: int) -> Checkpoint:
    return replace(
        current,
        step=current.step + 1,
        role=role,
        attempt=1,
        failures=0,
        interruptions=0,
        run_id=None,
        **changes,
    )


def decide(current: Checkpoint, outcome: Outcome, detail: str = "") -> Decision:
    name = persona(current.role).name
    if outcome is Outcome.COMPLETED or (
        outcome is Outcome.CHANGES_REQUESTED and current.role is not AgentRunRole.REVIEWER
    ):
        index = PIPELINE_ROLES.index(current.role)
        if index == len(PIPELINE_ROLES) - 1:
            return Decision(next=None, final=FeatureStatus.PASSING)
        return Decision(next=_next_step(current, PIPELINE_ROLES[index + 1]))
    if outcome is Outcome.CHANGES_REQUESTED:
        if current.review_cycles < MAX_REVIEW_CYCLES:
            return Decision(
                next=_next_step(
                    current, AgentRunRole.CODER, review_cycles=current.review_cycles + 1
                )
            )
        return Decision(
            next=None,
            final=FeatureStatus.FAILING,
            error=(
                f"{name} still requested changes after {current.review_cycles} "
                f"revision{'s' if current.review_cycles != 1 else ''}."
            ),
        )
    if outcome is Outcome.CANCELLED:
        return Decision(
            next=None,
            final=FeatureStatus.FAILING,
            error=f"Cancelled by user ({name}, step {current.step}).",
        )
    if outcome is Outcome.INTERRUPTED:
        interruptions = current.interruptions + 1
        if interruptions < MAX_INTERRUPTIONS_PER_STEP:
            return Decision(
                next=replace(
                    current, attempt=current.attempt + 1, interruptions=interruptions, run_id=None
                )
            )
        return Decision(
            next=None,
            final=FeatureStatus.FAILING,
            error=(
                f"{name}'s step {current.step} ({current.role.value}) was interrupted "
                f"{interruptions} times (the API process running it stopped each time); "
                "the feature fails instead of running the step again."
            ),
        )
    failures = current.failures + 1
    if failures < MAX_FAILURES_PER_STEP:
        return Decision(
            next=replace(current, attempt=current.attempt + 1, failures=failures, run_id=None)
        )
    reason = f": {detail}" if detail else ""
    return Decision(
        next=None,
        final=FeatureStatus.FAILING,
        error=f"{name} failed step {current.step} ({current.role.value}) {failures} times{reason}",
    )
