"""Log lines for the log viewer: per run, and a project's recent lines across runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response

from api.auth import require_run_access
from api.deps import DbDep, OperatorDep, PrincipalDep
from api.routes.paging import trim_page
from api.routes.params import ProjectId, RunId
from api.store.logs import list_logs, list_project_logs
from api.store.projects import get_project
from api.store.runs import get_run
from core.cursor import is_cursor, normalize_timestamp
from core.models import LogLine

router = APIRouter(tags=["logs"])

#: Most lines one project-wide request returns (the viewer shows the tail).
MAX_PROJECT_LOG_LINES = 2_000
#: Most lines of one run per page (past it: ``X-Next-Cursor`` / ``Link``, continue with ``since``).
MAX_PAGE_LOG_LINES = 10_000


@router.get("/agent-runs/{runId}/logs", summary="A run's log lines, oldest first")
def get_run_logs(
    run_id: RunId,
    db: DbDep,
    principal: PrincipalDep,
    request: Request,
    response: Response,
    since: Annotated[str | None, Query(description="Return lines after this cursor.")] = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE_LOG_LINES)] = None,
) -> list[LogLine]:
    require_run_access(principal, run_id)
    if since is not None and not is_cursor(since):
        raise HTTPException(
            422, f"Invalid query parameter 'since': '{since[:40]}' is not a log cursor."
        )
    get_run(db, run_id=run_id)
    size = min(limit or MAX_PAGE_LOG_LINES, MAX_PAGE_LOG_LINES)
    lines = list_logs(db, run_id=run_id, since=since, limit=size + 1)
    return trim_page(
        lines,
        limit=size,
        key=lambda line: line.cursor,
        request=request,
        response=response,
        param="since",
    )


@router.get("/projects/{projectId}/logs", summary="A project's recent log lines across runs")
def get_project_logs(
    project_id: ProjectId,
    db: DbDep,
    _: OperatorDep,
    since: Annotated[
        str | None, Query(description="ISO 8601 timestamp: only lines after it.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PROJECT_LOG_LINES)] = 500,
) -> list[LogLine]:
    get_project(db, project_id=project_id)
    try:
        since_timestamp = normalize_timestamp(since) if since is not None else None
    except ValueError as error:
        raise HTTPException(422, f"Invalid query parameter 'since': {error}.") from None
    return list_project_logs(
        db, project_id=project_id, since_timestamp=since_timestamp, limit=limit
    )
