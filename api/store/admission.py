"""Admission: a project's ``maxConcurrency`` held by one conditional write on the project item.

Why on the project item: counting in-progress features through the features'
GSI is never strongly consistent, and a count read before a claim lets two API
processes admit at the same instant. Here the project item carries
``admitted``, a string set of the feature ids that hold a slot; a feature is
admitted by ``ADD`` guarded by ``size(admitted) < :max`` (or the id already in
it, so admitting twice is a no-op), which DynamoDB evaluates atomically with
the write. The slot is released when the pipeline finishes
(``api.store.claims.finish_pipeline``) and repaired by the watcher: ids of
features that ended or vanished are dropped, running features missing from the
set (taken over, started with "start now", or from before admission existed)
are added without the size guard — they already run, so they count.

DynamoDB stores no empty set: the last release removes the attribute, which
the guard treats as "nobody admitted".
"""

from __future__ import annotations

from typing import Any

from api.store.codec import to_item
from api.store.conditions import ITEM_EXISTS
from api.store.db import Db, get_or_raise
from api.store.errors import ConditionFailed, store_errors
from core.tables import PROJECTS

ADMITTED = "admitted"
_HAS_ROOM = (
    f"{ITEM_EXISTS} AND (attribute_not_exists(#admitted) "
    "OR size(#admitted) < :max OR contains(#admitted, :fid))"
)


def _update(
    db: Db, *, project_id: str, expression: str, condition: str, values: dict[str, Any], action: str
) -> bool:
    try:
        with store_errors(action):
            db.client.update_item(
                TableName=db.table(PROJECTS),
                Key=to_item({"id": project_id}),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#admitted": ADMITTED},
                ExpressionAttributeValues=values,
            )
    except ConditionFailed:
        return False
    return True


def _one(feature_id: str) -> dict[str, Any]:
    return {"SS": [feature_id]}


def admit(db: Db, *, project_id: str, feature_id: str, max_concurrency: int) -> bool:
    """Take a slot for the feature; ``False`` when the project is full (or gone)."""
    return _update(
        db,
        project_id=project_id,
        expression="ADD #admitted :one",
        condition=_HAS_ROOM,
        values={
            ":one": _one(feature_id),
            ":fid": {"S": feature_id},
            ":max": {"N": str(max_concurrency)},
        },
        action="admit the feature",
    )


def readmit(db: Db, *, project_id: str, feature_id: str) -> None:
    """Record a feature that already runs (no size guard: it holds a slot whatever the count)."""
    _update(
        db,
        project_id=project_id,
        expression="ADD #admitted :one",
        condition=ITEM_EXISTS,
        values={":one": _one(feature_id)},
        action="record the running feature's slot",
    )


def release(db: Db, *, project_id: str, feature_id: str) -> None:
    """Free the feature's slot (a no-op when it held none)."""
    _update(
        db,
        project_id=project_id,
        expression="DELETE #admitted :one",
        condition=ITEM_EXISTS,
        values={":one": _one(feature_id)},
        action="release the feature's slot",
    )


def admitted(db: Db, *, project_id: str) -> set[str]:
    """The feature ids holding a slot now (strongly consistent)."""
    item = get_or_raise(
        db,
        PROJECTS,
        key={"id": project_id},
        action="read the project's admitted features",
        missing=f"Project {project_id} was not found.",
        ProjectionExpression="id, #admitted",
        ExpressionAttributeNames={"#admitted": ADMITTED},
    )
    return set(item.get(ADMITTED) or ())
