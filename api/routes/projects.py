"""Projects: create (with their four agents), list, read, and their agents."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from api.deps import DbDep, OperatorDep, SettingsDep
from api.git.cli import GitError
from api.git.source import RepositoryProblem, check_repository
from api.routes import paging
from api.routes.params import ProjectId
from api.services.agents import agents_with_unread
from api.store.errors import InvalidInputError
from api.store.projects import create_project, get_project, list_projects
from core.models import Agent, Project, ProjectCreate

router = APIRouter(prefix="/projects", tags=["projects"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a project and its agents (its repository checked: 422 with git's words)",
)
def post_project(body: ProjectCreate, db: DbDep, settings: SettingsDep, _: OperatorDep) -> Project:
    repository, base_branch = None, None
    if body.repository is not None:
        try:
            source = check_repository(
                body.repository,
                body.base_branch,
                git=settings.git_bin,
                timeout=settings.git_check_timeout_seconds,
            )
        except (RepositoryProblem, GitError) as error:
            raise InvalidInputError(str(error)) from error
        repository, base_branch = source.location, source.base_branch
    elif body.base_branch is not None:
        raise InvalidInputError("baseBranch needs a repository (a local path or a git URL).")
    return create_project(db, data=body, repository=repository, base_branch=base_branch)


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
