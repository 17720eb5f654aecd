"""``PATCH /api/agent-runs/{runId}``: a run's phase report (its agent, or the operator).

Goes through ``api.services.status.report_status``, so the thread gets exactly
one status (or error) notice per real change: reporting the same phase twice
answers 200 with the run and posts nothing the second time.

An agent token reports phases only. A step's outcome (completed, failed) is
the service's to decide from the exit code, the runner's result or a cancel:
an agent that could PATCH ``completed`` and then exit 1 would pass its
feature, and one that wrote ``failed`` with "Interrupted: …" on every attempt
would be rerun forever. ``started`` and ``waiting`` are the service's too.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from api.auth import Principal, require_run_access
from api.deps import PrincipalDep, RuntimeDep
from api.routes.params import RunId
from api.services.status import report_status
from api.store.runs import get_run
from core.models import AgentRun, AgentRunStatus, RunStatusUpdate

router = APIRouter(tags=["agent runs"])

#: The statuses an agent token may report: its working phases, never an outcome.
AGENT_PHASES: tuple[AgentRunStatus, ...] = (
    AgentRunStatus.THINKING,
    AgentRunStatus.CODING,
    AgentRunStatus.TESTING,
    AgentRunStatus.REVIEWING,
)


def require_reportable(principal: Principal, reported: AgentRunStatus) -> None:
    """403 unless the principal may set this status (operators set any)."""
    if principal.is_agent and reported not in AGENT_PHASES:
        phases = ", ".join(phase.value for phase in AGENT_PHASES)
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"An agent token may report phases only ({phases}), not '{reported.value}': "
            "the service decides a step's outcome.",
        )


@router.patch(
    "/agent-runs/{runId}",
    summary="Report a run's phase (one chat notice per real change)",
    responses={
        403: {"description": "An agent token reporting an outcome, or another run's token."},
        409: {"description": "The run has already ended."},
    },
)
def patch_run_status(
    run_id: RunId, body: RunStatusUpdate, runtime: RuntimeDep, principal: PrincipalDep
) -> AgentRun:
    require_run_access(principal, run_id)
    require_reportable(principal, body.status)
    transition = report_status(
        runtime.db,
        runtime.bus,
        run_id=run_id,
        status=body.status,
        output_summary=body.output_summary,
        error_message=body.error_message,
    )
    if transition is not None:
        return transition.run
    return get_run(runtime.db, run_id=run_id)
