"""Forward-only receipt writes: a receipt is only ever replaced by a higher-ranked state.

Why conditional: several writers may receipt one user message (the relay's
inbox, ``check_messages``, a question's answer, a live runner); each holds a
copy read earlier. An unconditional write would let a stale copy overwrite a
newer receipt (``mcp`` replaced by ``inbox``, or ``withdrawn`` by
``delivered``). DynamoDB checks the stored state instead.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from api.store.codec import from_item, to_item, to_value
from api.store.conditions import MESSAGE_EXISTS
from api.store.db import Db, get_or_raise
from api.store.errors import ConditionFailed, store_errors
from core.models import RECEIPT_RANK, AgentMessage, DeliveryReceipt, ReceiptState
from core.tables import AGENT_MESSAGES


def _lower_states(state: ReceiptState) -> list[ReceiptState]:
    return [s for s, rank in RECEIPT_RANK.items() if rank < state.rank]


#: The states a settling receipt (delivered, not delivered) may replace.
PENDING_STATES = frozenset({ReceiptState.QUEUED, ReceiptState.SENT})


def advance_receipt(
    db: Db,
    *,
    run_id: str,
    cursor: str,
    receipt: DeliveryReceipt,
    replaces: Collection[ReceiptState] | None = None,
) -> tuple[AgentMessage, bool]:
    """Store ``receipt`` if the message has none, or one in ``replaces`` (default: lower ranks).

    Returns ``(message as stored now, written)``; ``written`` is False when the
    stored receipt stands (already that far, or an end state).
    """
    lower = sorted(replaces if replaces is not None else _lower_states(receipt.state))
    names = {f":s{i}": to_value(state.value) for i, state in enumerate(lower)}
    allowed = " OR ".join(f"receipt.#state = :s{i}" for i in range(len(lower)))
    condition = f"{MESSAGE_EXISTS} AND (attribute_not_exists(receipt)"
    condition += f" OR {allowed})" if allowed else ")"
    request: dict[str, Any] = {
        "TableName": db.table(AGENT_MESSAGES),
        "Key": to_item({"runId": run_id, "cursor": cursor}),
        "UpdateExpression": "SET receipt = :receipt",
        "ConditionExpression": condition,
        "ExpressionAttributeValues": {
            ":receipt": to_value(receipt.model_dump(by_alias=True, exclude_none=True)),
            **names,
        },
        "ReturnValues": "ALL_NEW",
    }
    if allowed:  # DynamoDB refuses a name the expression does not use (no lower state)
        request["ExpressionAttributeNames"] = {"#state": "state"}
    try:
        with store_errors("record the delivery receipt"):
            raw = db.client.update_item(**request)["Attributes"]
    except ConditionFailed:
        stored = message_at(db, run_id=run_id, cursor=cursor)
        return stored, False
    return AgentMessage.model_validate(from_item(raw)), True


def message_at(db: Db, *, run_id: str, cursor: str) -> AgentMessage:
    item = get_or_raise(
        db,
        AGENT_MESSAGES,
        key={"runId": run_id, "cursor": cursor},
        action="read the message",
        missing=f"Message {cursor} of run {run_id} was not found.",
    )
    return AgentMessage.model_validate(item)


def mark_reply(db: Db, *, message: AgentMessage, question_id: str) -> None:
    """Record that a user message answers ``question_id`` (kept if it already says so)."""
    if message.reply_to is not None:
        return
    try:
        with store_errors("mark the answer"):
            db.client.update_item(
                TableName=db.table(AGENT_MESSAGES),
                Key=to_item({"runId": message.run_id, "cursor": message.cursor}),
                UpdateExpression="SET replyTo = :q",
                ConditionExpression=f"{MESSAGE_EXISTS} AND attribute_not_exists(replyTo)",
                ExpressionAttributeValues={":q": to_value(question_id)},
            )
    except ConditionFailed:
        return
