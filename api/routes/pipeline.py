"""Pipeline control: start a feature now, cancel a run."""

from __future__ import annotations

from fastapi import APIRouter, status
from starlette.concurrency import run_in_threadpool

from api.agents.cancel import cancel_run
from api.deps import OperatorDep, RuntimeDep, SupervisorDep, unavailable
from api.routes.params import FeatureId, RunId
from api.store.features import get_feature
from api.store.runs import get_run
from core.models import AgentRun, Feature

router = APIRouter(tags=["pipeline"])


@router.post(
    "/features/{featureId}/start",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start a pending feature's pipeline now",
    responses={404: {"description": "No such feature"}, 409: {"description": "Not pending"}},
)
async def start_feature(
    feature_id: FeatureId, runtime: RuntimeDep, supervisor: SupervisorDep, _: OperatorDep
) -> Feature:
    if supervisor is None:
        await run_in_threadpool(lambda: get_feature(runtime.db, feature_id=feature_id))
        raise unavailable("This API process does not run agent pipelines (no agent supervisor).")
    return await supervisor.start_feature(feature_id)


@router.post(
    "/agent-runs/{runId}/cancel",
    summary="Stop a run: its process ends and it fails with 'Cancelled by user'",
    responses={404: {"description": "No such run"}, 409: {"description": "Already ended"}},
)
async def cancel(
    run_id: RunId, runtime: RuntimeDep, supervisor: SupervisorDep, _: OperatorDep
) -> AgentRun:
    await run_in_threadpool(lambda: cancel_run(runtime.db, runtime.bus, run_id=run_id))
    if supervisor is not None:
        await supervisor.stop_step(run_id)
    return await run_in_threadpool(lambda: get_run(runtime.db, run_id=run_id))
