"""Agent runs: a project's runs (newest first) and one run."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.auth import require_run_access
from api.deps import DbDep, OperatorDep, PrincipalDep
from api.routes import paging
from api.routes.params import ProjectId, RunId
from api.store.projects import get_project
from api.store.runs import get_run, list_runs_for_project
from core.models import AgentRun

router = APIRouter(tags=["agent runs"])


@router.get("/projects/{projectId}/agent-runs", summary="A project's runs, newest first")
def get_project_runs(
    project_id: ProjectId,
    db: DbDep,
    _: OperatorDep,
    request: Request,
    response: Response,
    after: paging.AfterParam = None,
    limit: paging.LimitParam = None,
) -> list[AgentRun]:
    get_project(db, project_id=project_id)
    return paging.page_after(
        list_runs_for_project(db, project_id=project_id),
        after=after,
        limit=paging.page_size(limit),
        key=lambda run: run.id,
        request=request,
        response=response,
    )


@router.get("/agent-runs/{runId}", summary="One run")
def get_one_run(run_id: RunId, db: DbDep, principal: PrincipalDep) -> AgentRun:
    require_run_access(principal, run_id)
    return get_run(db, run_id=run_id)
