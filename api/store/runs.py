"""Agent runs: one per pipeline step try, with status transitions and the read marker."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass

from api.store.codec import from_item, to_item, to_value
from api.store.conditions import ITEM_EXISTS
from api.store.db import Db, get_or_raise, put_new, query_all
from api.store.errors import ConditionFailed, ConflictError, store_errors
from api.store.ids import new_id
from core.models import AgentRun, AgentRunCreate, AgentRunStatus, RunUsage, iso, utc_now
from core.tables import AGENT_RUNS

#: A status changes only to a different one, and never after the run ended.
STATUS_CHANGES = f"{ITEM_EXISTS} AND #status <> :status AND NOT (#status IN (:completed, :failed))"
#: The read marker only moves forward (two tabs may report out of order).
READ_MARKER_ADVANCES = (
    f"{ITEM_EXISTS} AND (attribute_not_exists(readCursor) OR readCursor < :cursor)"
)


@dataclass(frozen=True, slots=True)
class RunTransition:
    """A status change that happened: exactly one per real change."""

    run: AgentRun
    #: None when the update's answer was lost and botocore's retry found it applied.
    previous: AgentRunStatus | None


def create_run(db: Db, *, data: AgentRunCreate) -> AgentRun:
    now = iso(utc_now())
    run = AgentRun(
        id=new_id("run"),
        project_id=data.project_id,
        feature_id=data.feature_id,
        role=data.role,
        step=data.step,
        attempt=data.attempt,
        live=data.live,
        started_at=now,
        updated_at=now,
    )
    put_new(db, AGENT_RUNS, item=run.model_dump(by_alias=True), action="create the agent run")
    return run


def get_run(db: Db, *, run_id: str) -> AgentRun:
    item = get_or_raise(
        db,
        AGENT_RUNS,
        key={"id": run_id},
        action="read the agent run",
        missing=f"Agent run {run_id} was not found.",
    )
    return AgentRun.model_validate(item)


def list_runs_for_project(db: Db, *, project_id: str) -> list[AgentRun]:
    """A project's runs, newest first."""
    return _list_runs(db, index="by_project", key="projectId", value=project_id)


def list_runs_for_feature(db: Db, *, feature_id: str) -> list[AgentRun]:
    """A feature's runs, newest first."""
    return _list_runs(db, index="by_feature", key="featureId", value=feature_id)


def _list_runs(db: Db, *, index: str, key: str, value: str) -> list[AgentRun]:
    items = query_all(
        db,
        action="list the agent runs",
        TableName=db.table(AGENT_RUNS),
        IndexName=index,
        KeyConditionExpression=f"{key} = :v",
        ExpressionAttributeValues={":v": to_value(value)},
        ScanIndexForward=False,
    )
    runs = [AgentRun.model_validate(item) for item in items]
    # Same-microsecond starts: break ties by id so the order is stable.
    return sorted(runs, key=lambda r: (r.started_at, r.id), reverse=True)


def set_run_status(
    db: Db,
    *,
    run_id: str,
    status: AgentRunStatus,
    output_summary: str | None = None,
    error_message: str | None = None,
) -> RunTransition | None:
    """Move a run to ``status``.

    Returns the transition, or ``None`` when the run already had that status (no
    change, so no status message). Raises ``ConflictError`` when the run has
    already ended and ``NotFoundError`` when it does not exist. The condition is
    evaluated by DynamoDB, so of two processes reporting the same change only
    one gets a transition.
    """
    now = iso(utc_now())
    names = {"#status": "status", "#updated": "updatedAt"}
    values = {
        ":status": to_value(status.value),
        ":updated": to_value(now),
        ":completed": to_value(AgentRunStatus.COMPLETED.value),
        ":failed": to_value(AgentRunStatus.FAILED.value),
    }
    sets = ["#status = :status", "#updated = :updated"]
    optional = {"outputSummary": output_summary, "errorMessage": error_message}
    if status.is_terminal:
        optional["completedAt"] = now
    for attribute, value in optional.items():
        if value is not None:
            names[f"#{attribute}"] = attribute
            values[f":{attribute}"] = to_value(value)
            sets.append(f"#{attribute} = :{attribute}")
    try:
        with store_errors("update the agent run status"):
            response = db.client.update_item(
                TableName=db.table(AGENT_RUNS),
                Key=to_item({"id": run_id}),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression=STATUS_CHANGES,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_OLD",
            )
    except ConditionFailed:
        current = get_run(db, run_id=run_id)
        if current.status == status and current.updated_at == now:
            # Our own update: an attempt committed, its answer was lost and botocore
            # retried into the condition it had just made false. Still a transition.
            return RunTransition(run=current, previous=None)
        if current.status == status:
            return None
        raise ConflictError(
            f"Agent run {run_id} has already ended ({current.status.value}); "
            "its status can no longer change."
        ) from None
    old = from_item(response["Attributes"])
    updated = {name: value for name, value in optional.items() if value is not None}
    run = AgentRun.model_validate(old | updated | {"status": status.value, "updatedAt": now})
    return RunTransition(run=run, previous=AgentRunStatus(old["status"]))


def set_read_cursor(db: Db, *, run_id: str, cursor: str) -> str:
    """Advance the run's read marker to ``cursor``; returns the marker now stored."""
    # A lost condition means: not found (get_run says so) or already further along.
    with (
        suppress(ConditionFailed),
        store_errors("update the read marker"),
    ):
        db.client.update_item(
            TableName=db.table(AGENT_RUNS),
            Key=to_item({"id": run_id}),
            UpdateExpression="SET readCursor = :cursor",
            ConditionExpression=READ_MARKER_ADVANCES,
            ExpressionAttributeValues={":cursor": to_value(cursor)},
        )
    run = get_run(db, run_id=run_id)
    return run.read_cursor or cursor


def set_run_usage(db: Db, *, run_id: str, usage: RunUsage) -> None:
    """Store what the agent reported its step cost so far (a running total, replaced)."""
    with store_errors("record the run's usage"):
        db.client.update_item(
            TableName=db.table(AGENT_RUNS),
            Key=to_item({"id": run_id}),
            UpdateExpression="SET #usage = :usage",
            ConditionExpression=ITEM_EXISTS,
            ExpressionAttributeNames={"#usage": "usage"},
            ExpressionAttributeValues={":usage": to_value(usage.model_dump(by_alias=True))},
        )
