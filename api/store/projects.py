"""Projects and their four agents."""

from __future__ import annotations

from api.store.agents import create_agents
from api.store.db import Db, get_or_raise, put_new, scan_all
from api.store.ids import new_id
from core.models import Project, ProjectCreate, iso, utc_now
from core.tables import PROJECTS


def create_project(
    db: Db,
    *,
    data: ProjectCreate,
    repository: str | None = None,
    base_branch: str | None = None,
) -> Project:
    """Store a project; ``repository`` and ``base_branch`` as checked (``api.git.source``)."""
    project = Project(
        id=new_id("prj"),
        name=data.name,
        description=data.description,
        max_concurrency=data.max_concurrency,
        created_at=iso(utc_now()),
        repository=repository,
        base_branch=base_branch,
    )
    put_new(db, PROJECTS, item=project.model_dump(by_alias=True), action="create the project")
    create_agents(db, project_id=project.id)
    return project


def get_project(db: Db, *, project_id: str) -> Project:
    item = get_or_raise(
        db,
        PROJECTS,
        key={"id": project_id},
        action="read the project",
        missing=f"Project {project_id} was not found.",
    )
    return Project.model_validate(item)


def list_projects(db: Db) -> list[Project]:
    projects = [
        Project.model_validate(i)
        for i in scan_all(db, action="list the projects", TableName=db.table(PROJECTS))
    ]
    return sorted(projects, key=lambda p: (p.created_at, p.id))
