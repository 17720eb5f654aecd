"""What the repository side writes to the store: a feature's branch and head, a run's
changes, a merge, and the commit a user message went into.

Each write is conditional where two writers could meet: the branch is set once
(a second process starting the same feature's first step keeps the first
branch), the head only moves from the head it was (a stale pipeline cannot move
it back), a merge is recorded once.
"""

from __future__ import annotations

from typing import Any

from api.store.codec import from_item, to_item, to_value
from api.store.conditions import ITEM_EXISTS, MESSAGE_EXISTS
from api.store.db import Db
from api.store.errors import ConditionFailed, ConflictError, store_errors
from core.models import AgentMessage, Feature, ReceiptState
from core.repo_models import RunChanges
from core.tables import AGENT_MESSAGES, AGENT_RUNS, FEATURES

BRANCH_NOT_SET = "attribute_not_exists(#branch) OR #branch = :branch"
HEAD_WAS = "attribute_not_exists(headCommit) OR headCommit = :old"
NOT_MERGED = "attribute_not_exists(mergedAt)"
DELIVERED_TO_RUN = "receipt.#state = :delivered AND receipt.runId = :run"


def _update_feature(
    db: Db,
    *,
    feature_id: str,
    fields: dict[str, Any],
    condition: str,
    values: dict[str, Any],
    names: dict[str, str] | None = None,
    action: str,
) -> Feature:
    names = {f"#{k}": k for k in fields} | (names or {})
    expression_values = {f":{k}": to_value(v) for k, v in fields.items()}
    expression_values |= {k: to_value(v) for k, v in values.items()}
    with store_errors(action):
        raw = db.client.update_item(
            TableName=db.table(FEATURES),
            Key=to_item({"id": feature_id}),
            UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in fields),
            ConditionExpression=f"{ITEM_EXISTS} AND ({condition})",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=expression_values,
            ReturnValues="ALL_NEW",
        )["Attributes"]
    return Feature.model_validate(from_item(raw))


def set_feature_branch(
    db: Db, *, feature_id: str, branch: str, base_commit: str, head_commit: str
) -> Feature:
    """Record the feature's branch at its first step (kept if it is already that branch)."""
    try:
        return _update_feature(
            db,
            feature_id=feature_id,
            fields={"branch": branch, "baseCommit": base_commit, "headCommit": head_commit},
            condition=BRANCH_NOT_SET,
            values={},
            action="record the feature's branch",
        )
    except ConditionFailed as error:
        raise ConflictError(f"Feature {feature_id} already has another branch.") from error


def set_feature_head(db: Db, *, feature_id: str, old: str, new: str) -> Feature:
    """Move the recorded head from ``old`` to ``new`` (a step's commit)."""
    try:
        return _update_feature(
            db,
            feature_id=feature_id,
            fields={"headCommit": new},
            condition=HEAD_WAS,
            values={":old": old},
            action="record the feature's head commit",
        )
    except ConditionFailed as error:
        raise ConflictError(
            f"Feature {feature_id}'s head moved meanwhile: {new[:7]} was not recorded."
        ) from error


def set_feature_merged(db: Db, *, feature_id: str, merged_at: str, merged_commit: str) -> Feature:
    try:
        return _update_feature(
            db,
            feature_id=feature_id,
            fields={"mergedAt": merged_at, "mergedCommit": merged_commit},
            condition=NOT_MERGED,
            values={},
            action="record the merge",
        )
    except ConditionFailed as error:
        raise ConflictError(f"Feature {feature_id} was merged already.") from error


def set_run_changes(db: Db, *, run_id: str, changes: RunChanges) -> None:
    with store_errors("record the step's changes"):
        db.client.update_item(
            TableName=db.table(AGENT_RUNS),
            Key=to_item({"id": run_id}),
            UpdateExpression="SET changes = :changes",
            ConditionExpression=ITEM_EXISTS,
            ExpressionAttributeValues={
                ":changes": to_value(changes.model_dump(by_alias=True, exclude_none=True))
            },
        )


def set_receipt_commit(
    db: Db, *, message: AgentMessage, run_id: str, commit: str
) -> AgentMessage | None:
    """Add ``commit`` to a receipt delivered to ``run_id``; None if it is not (or no longer) so."""
    try:
        with store_errors("record the message's commit"):
            raw = db.client.update_item(
                TableName=db.table(AGENT_MESSAGES),
                Key=to_item({"runId": message.run_id, "cursor": message.cursor}),
                UpdateExpression="SET receipt.#commit = :commit",
                ConditionExpression=f"{MESSAGE_EXISTS} AND {DELIVERED_TO_RUN}",
                ExpressionAttributeNames={"#commit": "commit", "#state": "state"},
                ExpressionAttributeValues={
                    ":commit": to_value(commit),
                    ":delivered": to_value(ReceiptState.DELIVERED.value),
                    ":run": to_value(run_id),
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
    except ConditionFailed:
        return None
    return AgentMessage.model_validate(from_item(raw))
