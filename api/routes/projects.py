"""Projects: create (with their four agents), list, read, and their agents."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from api.deps import DbDep, OperatorDep
from api.routes import paging
from api.routes.params import ProjectId
from api.services.agents import agents_with_unread
from api.store.projects import create_project, get_project, list_projects
from core.models import Agent, Project, ProjectCreate

router = APIRouter(prefix="/projects", tags=["projects"])


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a project and its agents")
def post_project(body: ProjectCreate, db: DbDep, _: OperatorDep) -> Project:
    return create_project(db, data=body)


@router.get("", summary="List projects (a page; X-Next-Cursor / Link past the cap)")
def get_projects(
    db: DbDep,
    _: OperatorDep,
    request: Request,
    response: Response,
    after: paging.AfterParam = None,
    limit: paging.LimitParam = None,
) -> list[Project]:
    return paging.page_after(
        list_projects(db),
        after=after,
        limit=paging.page_size(limit),
        key=lambda project: project.id,
        request=request,
        response=response,
    )


@router.get("/{projectId}", summary="One project")
def get_one_project(project_id: ProjectId, db: DbDep, _: OperatorDep) -> Project:
    return get_project(db, project_id=project_id)


@router.get("/{projectId}/agents", summary="The project's agents with unread counts")
def get_project_agents(project_id: ProjectId, db: DbDep, _: OperatorDep) -> list[Agent]:
    get_project(db, project_id=project_id)
    return agents_with_unread(db, project_id=project_id)
