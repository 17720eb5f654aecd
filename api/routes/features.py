"""Features: create (pending; the feature watcher starts it), list, read."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from api.deps import DbDep, OperatorDep
from api.routes import paging
from api.routes.params import FeatureId, ProjectId
from api.store.features import create_feature, get_feature, list_features
from api.store.projects import get_project
from core.models import Feature, FeatureCreate

router = APIRouter(tags=["features"])


@router.post(
    "/projects/{projectId}/features",
    status_code=status.HTTP_201_CREATED,
    summary="Create a pending feature",
)
def post_feature(project_id: ProjectId, body: FeatureCreate, db: DbDep, _: OperatorDep) -> Feature:
    get_project(db, project_id=project_id)
    return create_feature(db, project_id=project_id, data=body)


@router.get("/projects/{projectId}/features", summary="A project's features (a page)")
def get_features(
    project_id: ProjectId,
    db: DbDep,
    _: OperatorDep,
    request: Request,
    response: Response,
    after: paging.AfterParam = None,
    limit: paging.LimitParam = None,
) -> list[Feature]:
    get_project(db, project_id=project_id)
    return paging.page_after(
        list_features(db, project_id=project_id),
        after=after,
        limit=paging.page_size(limit),
        key=lambda feature: feature.id,
        request=request,
        response=response,
    )


@router.get("/features/{featureId}", summary="One feature with its status")
def get_one_feature(feature_id: FeatureId, db: DbDep, _: OperatorDep) -> Feature:
    return get_feature(db, feature_id=feature_id)
