"""``PATCH /api/agent-runs/{runId}``: a run's phase report (its agent, or the operator).

Goes through ``api.services.status.report_status``, so the thread gets exactly
one status (or error) notice per real change: reporting the same phase twice
answers 200 with the run and posts nothing the second time.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.auth import require_run_access
from api.deps import PrincipalDep, RuntimeDep
from api.routes.params import RunId
from api.services.status import report_status
from api.store.runs import get_run
from core.models import AgentRun, RunStatusUpdate

router = APIRouter(tags=["agent runs"])


@router.patch(
    "/agent-runs/{runId}",
    summary="Report a run's phase (one chat notice per real change)",
    responses={409: {"description": "The run has already ended."}},
)
def patch_run_status(
    run_id: RunId, body: RunStatusUpdate, runtime: RuntimeDep, principal: PrincipalDep
) -> AgentRun:
    require_run_access(principal, run_id)
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
