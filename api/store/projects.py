"""Projects and their four agents."""

from __future__ import annotations

from api.store.agents import create_agents
from api.store.codec import from_item, to_item
from api.store.db import Db, scan_all
from api.store.errors import NotFoundError, store_errors
from api.store.ids import new_id
from core.models import Project, ProjectCreate, iso, utc_now
from core.tables import PROJECTS

ITEM_IS_NEW = "attribute_not_exists(id)"


def create_project(db: Db, *, data: ProjectCreate) -> Project:
    project = Project(
        id=new_id("prj"),
        name=data.name,
        description=data.description,
        max_concurrency=data.max_concurrency,
        created_at=iso(utc_now()),
    )
    with store_errors("create the project"):
        db.client.put_item(
            TableName=db.table(PROJECTS),
            Item=to_item(project.model_dump(by_alias=True)),
            ConditionExpression=ITEM_IS_NEW,
        )
    create_agents(db, project_id=project.id)
    return project


def get_project(db: Db, *, project_id: str) -> Project:
    with store_errors("read the project"):
        raw = db.client.get_item(
            TableName=db.table(PROJECTS), Key=to_item({"id": project_id}), ConsistentRead=True
        ).get("Item")
    if raw is None:
        raise NotFoundError(f"Project {project_id} was not found.")
    return Project.model_validate(from_item(raw))


def list_projects(db: Db) -> list[Project]:
    projects = [
        Project.model_validate(i)
        for i in scan_all(db, action="list the projects", TableName=db.table(PROJECTS))
    ]
    return sorted(projects, key=lambda p: (p.created_at, p.id))
