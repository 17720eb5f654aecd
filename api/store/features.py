"""Features of a project."""

from __future__ import annotations

from typing import Any

from api.store.codec import from_item, to_item, to_value
from api.store.conditions import ITEM_EXISTS
from api.store.db import Db, get_or_raise, put_new, query_all
from api.store.errors import ConditionFailed, InvalidInputError, store_errors
from api.store.ids import new_id
from core.models import Feature, FeatureCreate, FeatureStatus, iso, utc_now
from core.tables import FEATURES


def create_feature(db: Db, *, project_id: str, data: FeatureCreate) -> Feature:
    """Create a pending feature. Its dependencies must be features of the same project."""
    if data.dependencies:
        known = {f.id for f in list_features(db, project_id=project_id)}
        unknown = [d for d in dict.fromkeys(data.dependencies) if d not in known]
        if unknown:
            raise InvalidInputError(
                f"Dependency {', '.join(unknown)} is not a feature of project {project_id}."
            )
    now = iso(utc_now())
    feature = Feature(
        id=new_id("feat"),
        project_id=project_id,
        name=data.name,
        description=data.description,
        priority=data.priority,
        dependencies=list(dict.fromkeys(data.dependencies)),
        created_at=now,
        updated_at=now,
    )
    put_new(db, FEATURES, item=feature.model_dump(by_alias=True), action="create the feature")
    return feature


def get_feature_item(db: Db, *, feature_id: str) -> dict[str, Any]:
    """The feature's whole item (with the pipeline's claim attributes), read consistently."""
    return get_or_raise(
        db,
        FEATURES,
        key={"id": feature_id},
        action="read the feature",
        missing=f"Feature {feature_id} was not found.",
    )


def get_feature(db: Db, *, feature_id: str) -> Feature:
    return Feature.model_validate(get_feature_item(db, feature_id=feature_id))


def list_features(db: Db, *, project_id: str) -> list[Feature]:
    """A project's features, oldest first."""
    items = query_all(
        db,
        action="list the features",
        TableName=db.table(FEATURES),
        IndexName="by_project",
        KeyConditionExpression="projectId = :p",
        ExpressionAttributeValues={":p": to_value(project_id)},
    )
    return [Feature.model_validate(item) for item in items]


def update_feature(
    db: Db,
    *,
    feature_id: str,
    status: FeatureStatus | None = None,
    current_step: int | None = None,
    current_run_id: str | None = None,
    error_message: str | None = None,
    condition: str | None = None,
    condition_values: dict[str, Any] | None = None,
    condition_names: dict[str, str] | None = None,
) -> Feature:
    """Set the given fields of a feature (``None`` leaves a field as it is).

    ``condition`` (with ``condition_values`` and ``condition_names``) guards the write; a lost guard
    raises ``ConditionFailed``.
    """
    fields: dict[str, Any] = {
        "status": status.value if status else None,
        "currentStep": current_step,
        "currentRunId": current_run_id,
        "errorMessage": error_message,
        "updatedAt": iso(utc_now()),
    }
    fields = {k: v for k, v in fields.items() if v is not None}
    names = {f"#{k}": k for k in fields} | (condition_names or {})
    values = {f":{k}": to_value(v) for k, v in fields.items()}
    values.update({k: to_value(v) for k, v in (condition_values or {}).items()})
    guard = ITEM_EXISTS if condition is None else f"{ITEM_EXISTS} AND ({condition})"
    try:
        with store_errors("update the feature"):
            raw = db.client.update_item(
                TableName=db.table(FEATURES),
                Key=to_item({"id": feature_id}),
                UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in fields),
                ConditionExpression=guard,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )["Attributes"]
    except ConditionFailed:
        get_feature(db, feature_id=feature_id)  # NotFoundError if it is gone
        raise
    return Feature.model_validate(from_item(raw))
