"""Pipeline claims on the feature item: exactly one API process runs a feature's pipeline.

Why on the feature item: the claim, the pipeline checkpoint and the relay
cursors change together with the feature's status, and one conditional
``UpdateItem`` on one item is atomic in DynamoDB (and in dynalite, which has
no transactions). Attributes added to the feature item (not part of the
public ``Feature`` model, which ignores them):

* ``ownerId``   the worker id (``api.store.workers``) of the process running
  the pipeline; absent when nobody runs it;
* ``claimedAt`` when the current owner claimed it;
* ``pipeline``  the checkpoint (a map, see ``api.agents.plan.Checkpoint``) so
  another process can resume the pipeline where it stopped;
* ``relayCursors`` a map ``runId -> cursor``: every user message of that run
  up to the cursor has been relayed into a step (``api.agents.relay``).

A claim is taken from ``pending`` (a fresh start), or taken over from an owner
that released it or stopped heartbeating (compare-and-swap on ``ownerId``).
Every later write is guarded by ``ownerId = <me>``: a process that lost its
claim learns it from ``ClaimLostError`` and stops.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from api.store.admission import release
from api.store.codec import Item, from_item, to_item, to_value
from api.store.conditions import ITEM_EXISTS
from api.store.db import Db
from api.store.errors import ConditionFailed, StoreError, store_errors
from api.store.features import get_feature_item
from core.models import Feature, FeatureStatus, iso, utc_now
from core.tables import FEATURES

OWNED_BY_ME = f"{ITEM_EXISTS} AND ownerId = :me"


class ClaimLostError(StoreError):
    """This process no longer owns the feature's pipeline (another process took it over)."""


@dataclass(frozen=True, slots=True)
class FeatureClaim:
    """A feature item with the pipeline attributes the public model leaves out."""

    feature: Feature
    owner_id: str | None = None
    claimed_at: str | None = None
    checkpoint: dict[str, Any] | None = None
    relay_cursors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_item(cls, item: Item) -> FeatureClaim:
        return cls(
            feature=Feature.model_validate(item),
            owner_id=item.get("ownerId"),
            claimed_at=item.get("claimedAt"),
            checkpoint=item.get("pipeline"),
            relay_cursors=dict(item.get("relayCursors") or {}),
        )


def read_claim(db: Db, *, feature_id: str) -> FeatureClaim:
    return FeatureClaim.from_item(get_feature_item(db, feature_id=feature_id))


def _update(
    db: Db,
    *,
    feature_id: str,
    expression: str,
    condition: str,
    names: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    action: str,
) -> FeatureClaim | None:
    """One guarded update; ``None`` when the guard did not hold (NotFoundError if gone)."""
    kwargs: dict[str, Any] = {
        "TableName": db.table(FEATURES),
        "Key": to_item({"id": feature_id}),
        "UpdateExpression": expression,
        "ConditionExpression": condition,
        "ReturnValues": "ALL_NEW",
    }
    if names:
        kwargs["ExpressionAttributeNames"] = names
    if values:
        kwargs["ExpressionAttributeValues"] = {k: to_value(v) for k, v in values.items()}
    try:
        with store_errors(action):
            raw = db.client.update_item(**kwargs)["Attributes"]
    except ConditionFailed:
        read_claim(db, feature_id=feature_id)  # NotFoundError if it is gone
        return None
    return FeatureClaim.from_item(from_item(raw))


_CLAIM_SET = (
    "SET #status = :in_progress, ownerId = :me, claimedAt = :now, updatedAt = :now, "
    "relayCursors = if_not_exists(relayCursors, :empty)"
)


def claim_pending(
    db: Db, *, feature_id: str, owner_id: str, over_limit: bool = False
) -> FeatureClaim | None:
    """Claim a pending feature (pending -> in_progress); ``None`` if it was not pending.

    ``over_limit`` records on the feature that a person started it past its
    project's ``maxConcurrency`` (``startedOverLimit``).
    """
    over = ", startedOverLimit = :over" if over_limit else ""
    values: dict[str, Any] = {
        ":in_progress": FeatureStatus.IN_PROGRESS.value,
        ":pending": FeatureStatus.PENDING.value,
        ":me": owner_id,
        ":now": iso(utc_now()),
        ":empty": {},
    }
    if over_limit:
        values[":over"] = True
    return _update(
        db,
        feature_id=feature_id,
        expression=_CLAIM_SET + over + " REMOVE errorMessage",
        condition=f"{ITEM_EXISTS} AND #status = :pending",
        names={"#status": "status"},
        values=values,
        action="claim the feature",
    )


def take_over(
    db: Db, *, feature_id: str, owner_id: str, previous_owner: str | None
) -> FeatureClaim | None:
    """Take an in-progress pipeline from ``previous_owner`` (None = released, no owner).

    Compare-and-swap: of several processes taking over the same feature, one wins.
    """
    values: dict[str, Any] = {
        ":in_progress": FeatureStatus.IN_PROGRESS.value,
        ":me": owner_id,
        ":now": iso(utc_now()),
        ":empty": {},
    }
    if previous_owner is None:
        owner_guard = "attribute_not_exists(ownerId)"
    else:
        owner_guard = "ownerId = :previous"
        values[":previous"] = previous_owner
    return _update(
        db,
        feature_id=feature_id,
        expression=_CLAIM_SET,
        condition=f"{ITEM_EXISTS} AND #status = :in_progress AND {owner_guard}",
        names={"#status": "status"},
        values=values,
        action="take over the feature's pipeline",
    )


def _owned_update(
    db: Db,
    *,
    feature_id: str,
    owner_id: str,
    expression: str,
    names: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    action: str,
) -> FeatureClaim:
    result = _update(
        db,
        feature_id=feature_id,
        expression=expression,
        condition=OWNED_BY_ME,
        names=names,
        values={":me": owner_id, **(values or {})},
        action=action,
    )
    if result is None:
        raise ClaimLostError(
            f"Feature {feature_id}'s pipeline is no longer owned by this process ({owner_id})."
        )
    return result


def save_checkpoint(
    db: Db,
    *,
    feature_id: str,
    owner_id: str,
    checkpoint: dict[str, Any],
    current_step: int,
    current_run_id: str | None,
) -> FeatureClaim:
    """Record where the pipeline is (and the feature's current step and run)."""
    expression = "SET #pipeline = :pipeline, currentStep = :step, updatedAt = :now"
    values: dict[str, Any] = {
        ":pipeline": checkpoint,
        ":step": current_step,
        ":now": iso(utc_now()),
    }
    if current_run_id is not None:
        expression += ", currentRunId = :run"
        values[":run"] = current_run_id
    return _owned_update(
        db,
        feature_id=feature_id,
        owner_id=owner_id,
        expression=expression,
        names={"#pipeline": "pipeline"},
        values=values,
        action="save the pipeline checkpoint",
    )


def advance_relay_cursors(
    db: Db, *, feature_id: str, owner_id: str, cursors: dict[str, str]
) -> FeatureClaim:
    """Persist ``runId -> cursor`` relay positions (only the given runs change)."""
    if not cursors:
        return read_claim(db, feature_id=feature_id)
    names = {"#relay": "relayCursors"}
    values: dict[str, Any] = {}
    sets = []
    for index, (run_id, cursor) in enumerate(sorted(cursors.items())):
        names[f"#r{index}"] = run_id
        values[f":c{index}"] = cursor
        sets.append(f"#relay.#r{index} = :c{index}")
    return _owned_update(
        db,
        feature_id=feature_id,
        owner_id=owner_id,
        expression="SET " + ", ".join(sets),
        names=names,
        values=values,
        action="save the relay cursors",
    )


def finish_pipeline(
    db: Db,
    *,
    feature_id: str,
    owner_id: str,
    status: FeatureStatus,
    error_message: str | None = None,
) -> FeatureClaim:
    """End the pipeline: the feature passes or fails, the claim is dropped, the slot freed.

    The slot (``api.store.admission``) is released after the feature's own
    write; should the process stop in between, the watcher's repair frees it.
    """
    expression = "SET #status = :status, updatedAt = :now"
    values: dict[str, Any] = {":status": status.value, ":now": iso(utc_now())}
    if error_message is not None:
        expression += ", errorMessage = :error"
        values[":error"] = error_message
    finished = _owned_update(
        db,
        feature_id=feature_id,
        owner_id=owner_id,
        expression=expression + " REMOVE ownerId",
        names={"#status": "status"},
        values=values,
        action="finish the feature's pipeline",
    )
    release(db, project_id=finished.feature.project_id, feature_id=feature_id)
    return finished


def release_claim(db: Db, *, feature_id: str, owner_id: str) -> bool:
    """Drop the claim (the feature stays in progress for another process to resume).

    Returns ``False`` when this process did not own it any more.
    """
    result = _update(
        db,
        feature_id=feature_id,
        expression="REMOVE ownerId SET updatedAt = :now",
        condition=OWNED_BY_ME,
        values={":me": owner_id, ":now": iso(utc_now())},
        action="release the feature's pipeline",
    )
    return result is not None


def fail_pending(db: Db, *, feature_id: str, error_message: str) -> FeatureClaim | None:
    """A pending feature that can never start (a dependency failed) becomes failing."""
    return _update(
        db,
        feature_id=feature_id,
        expression="SET #status = :failing, errorMessage = :error, updatedAt = :now",
        condition=f"{ITEM_EXISTS} AND #status = :pending",
        names={"#status": "status"},
        values={
            ":failing": FeatureStatus.FAILING.value,
            ":pending": FeatureStatus.PENDING.value,
            ":error": error_message,
            ":now": iso(utc_now()),
        },
        action="mark the feature failing",
    )
