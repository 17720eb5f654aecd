"""An agent's open question on its run item: one at a time, decided by DynamoDB.

Why on the run item: "is a question open?" and "is the run waiting?" must never
disagree, and two questions of one run must never both be open. One conditional
update sets ``openQuestionId`` and the ``waiting`` status together
(``attribute_not_exists(openQuestionId)``), and one conditional update clears
it (``openQuestionId = :q``) and adds the wait to ``waitingSeconds``, so a
retried or racing close counts the wait once.
"""

from __future__ import annotations

from datetime import datetime

from api.store.codec import from_item, to_item, to_value
from api.store.conditions import ITEM_EXISTS
from api.store.db import Db
from api.store.errors import ConditionFailed, ConflictError, store_errors
from api.store.runs import get_run
from core.models import AgentRun, AgentRunStatus, iso, utc_now
from core.tables import AGENT_RUNS

#: A question opens only on an active run without one.
QUESTION_OPENS = (
    f"{ITEM_EXISTS} AND attribute_not_exists(openQuestionId) "
    "AND NOT (#status IN (:completed, :failed))"
)
QUESTION_IS_OPEN = "openQuestionId = :q"
#: The check_messages position only moves forward.
MCP_CURSOR_ADVANCES = f"{ITEM_EXISTS} AND (attribute_not_exists(mcpCursor) OR mcpCursor < :cursor)"


def open_question(db: Db, *, run_id: str, question_id: str) -> AgentRun:
    """Mark ``question_id`` open and the run ``waiting``; returns the run after the change.

    Idempotent for the same question id (a retried ask). ``ConflictError`` with a
    sentence when the run has ended or another question is open.
    """
    now = iso(utc_now())
    try:
        with store_errors("open the question"):
            raw = db.client.update_item(
                TableName=db.table(AGENT_RUNS),
                Key=to_item({"id": run_id}),
                UpdateExpression=(
                    "SET openQuestionId = :q, waitingSince = :now, #status = :waiting, "
                    "updatedAt = :now"
                ),
                ConditionExpression=QUESTION_OPENS,
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":q": to_value(question_id),
                    ":now": to_value(now),
                    ":waiting": to_value(AgentRunStatus.WAITING.value),
                    ":completed": to_value(AgentRunStatus.COMPLETED.value),
                    ":failed": to_value(AgentRunStatus.FAILED.value),
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
    except ConditionFailed:
        current = get_run(db, run_id=run_id)  # NotFoundError when it does not exist
        if current.open_question_id == question_id:
            return current
        if current.status.is_terminal:
            raise ConflictError(
                f"Agent run {run_id} is no longer active ({current.status.value}); "
                "nobody can answer its questions."
            ) from None
        raise ConflictError(
            f"Agent run {run_id} already waits for an answer to question "
            f"{current.open_question_id}; ask one question at a time."
        ) from None
    return AgentRun.model_validate(from_item(raw))


def _seconds_between(start: str, end: datetime) -> float:
    began = datetime.fromisoformat(start.replace("Z", "+00:00"))
    return max(0.0, round((end - began).total_seconds(), 3))


def close_question(db: Db, *, run_id: str, question_id: str) -> AgentRun | None:
    """Clear the open question and add its wait to ``waitingSeconds``.

    Returns the run after the change, or ``None`` when that question was not open
    (already closed: a retry, or the other outcome won).
    """
    run = get_run(db, run_id=run_id)
    if run.open_question_id != question_id:
        return None
    waited = _seconds_between(run.waiting_since, utc_now()) if run.waiting_since else 0.0
    try:
        with store_errors("close the question"):
            raw = db.client.update_item(
                TableName=db.table(AGENT_RUNS),
                Key=to_item({"id": run_id}),
                UpdateExpression=(
                    "SET waitingSeconds = if_not_exists(waitingSeconds, :zero) + :waited "
                    "REMOVE openQuestionId, waitingSince"
                ),
                ConditionExpression=QUESTION_IS_OPEN,
                ExpressionAttributeValues={
                    ":q": to_value(question_id),
                    ":zero": to_value(0),
                    ":waited": to_value(waited),
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
    except ConditionFailed:
        return None
    return AgentRun.model_validate(from_item(raw))


def advance_mcp_cursor(db: Db, *, run_id: str, cursor: str) -> None:
    """Move the run's ``check_messages`` position forward to ``cursor`` (never back)."""
    try:
        with store_errors("record the check_messages position"):
            db.client.update_item(
                TableName=db.table(AGENT_RUNS),
                Key=to_item({"id": run_id}),
                UpdateExpression="SET mcpCursor = :cursor",
                ConditionExpression=MCP_CURSOR_ADVANCES,
                ExpressionAttributeValues={":cursor": to_value(cursor)},
            )
    except ConditionFailed:
        return  # already further along
