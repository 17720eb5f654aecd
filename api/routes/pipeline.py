"""Pipeline control: start a feature now, cancel a run."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from starlette.concurrency import run_in_threadpool

from api.agents.cancel import cancel_run
from api.deps import OperatorDep, RuntimeDep, SupervisorDep, unavailable
from api.routes.params import FeatureId, RunId
from api.store.features import get_feature
from api.store.runs import get_run
from core.models import AgentRun, Feature, StartFeature

router = APIRouter(tags=["pipeline"])


@router.post(
    "/features/{featureId}/start",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start a pending feature's pipeline now (within maxConcurrency, or override)",
    responses={
        404: {"description": "No such feature"},
        409: {
            "description": "Not pending, or its project already runs maxConcurrency features "
            "(the feature stays pending and waits its turn; override=true starts it anyway)"
        },
    },
)
async def start_feature(
    feature_id: FeatureId,
    runtime: RuntimeDep,
    supervisor: SupervisorDep,
    _: OperatorDep,
    override: Annotated[
        bool,
        Query(
            description="Start it even past the project's maxConcurrency "
            "(recorded on the feature as startedOverLimit)."
        ),
    ] = False,
    body: StartFeature | None = None,
) -> Feature:
    if supervisor is None:
        await run_in_threadpool(lambda: get_feature(runtime.db, feature_id=feature_id))
        raise unavailable("This API process does not run agent pipelines (no agent supervisor).")
    return await supervisor.start_feature(
        feature_id, override=override or (body is not None and body.override)
    )


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
