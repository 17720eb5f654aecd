"""Chat messages: an optimistic per-run append, so key order is commit order.

The append (why it is safe across processes):

* A writer takes the run's last known cursor ``h`` (cached per process, or read
  with a strongly consistent "last item" query) and puts the message at
  ``h + 1`` with ``attribute_not_exists``. Key ``n + 1`` therefore exists only
  once ``n`` has committed, whatever the number of writers: a stream that has
  delivered up to ``n`` and resumes "after n" can never miss a later commit.
* On a conflict the writer reads everything after ``h`` (consistent), learns the
  new head, and tries the next key. No clock is involved, so two messages in the
  same millisecond are simply two keys.

Idempotency (a retried POST with the same client id stores one message) needs
no transaction and no lease: before the first put the writer looks the id up
in the ``by_id`` LSI (strongly consistent), and on every conflict it scans the
items it skipped over for the id. Any copy committed before the writer's head
knowledge is found by the lookup; any copy committed after it sits at a key the
writer must step over, so the scan finds it. Of two racing writers of one id,
exactly one put succeeds. The same scan recognises the writer's *own* put when
an attempt committed but its answer was lost and botocore retried it: the retry
meets its own key, and the message is returned instead of stored a second time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypedDict

from api.store.codec import from_item, to_item, to_value
from api.store.conditions import MESSAGE_EXISTS, MESSAGE_KEY_IS_FREE
from api.store.db import Db, query_all, query_count
from api.store.errors import (
    ConditionFailed,
    ConflictError,
    NotFoundError,
    StoreUnavailableError,
    store_errors,
)
from api.store.ids import new_id
from core.cursor import START_CURSOR, format_cursor, parse_cursor
from core.models import (
    AgentMessage,
    AgentRun,
    AgentRunRole,
    DeliveryMode,
    DeliveryReceipt,
    MessageSender,
    MessageType,
    ReceiptState,
    iso,
    utc_now,
)
from core.tables import AGENT_MESSAGES

#: The put condition of the append: this key must not exist yet.
#: Withdrawal is only possible before any delivery: from state ``queued``.
RECEIPT_IS_QUEUED = f"{MESSAGE_EXISTS} AND receipt.#state = :queued"
#: Conflicts one append may lose before it reports contention (each loss means
#: another message committed, so this bounds work, not correctness).
MAX_APPEND_ATTEMPTS = 200


class MessageFields(TypedDict, total=False):
    """A new message's optional fields: ``create_message``'s keywords after ``content``,
    declared once so a wrapper (``api.services.messages.post_message``) passes them on."""

    type: MessageType
    role: AgentRunRole | None
    message_id: str | None
    receipt: DeliveryReceipt | None
    receipt_for: str | None
    mode: DeliveryMode | None
    options: list[str] | None
    reply_to: str | None


def create_message(
    db: Db,
    *,
    run: AgentRun,
    sender: MessageSender,
    content: str,
    type: MessageType = MessageType.MESSAGE,
    role: AgentRunRole | None = None,
    message_id: str | None = None,
    receipt: DeliveryReceipt | None = None,
    receipt_for: str | None = None,
    mode: DeliveryMode | None = None,
    options: list[str] | None = None,
    reply_to: str | None = None,
) -> tuple[AgentMessage, bool]:
    """Append a message to the run's thread.

    Returns ``(message, created)``. With a client ``message_id`` already stored
    in this run, returns the stored message and ``False`` (nothing is written).
    """
    table = db.table(AGENT_MESSAGES)
    head = db.heads.get(table, run.id)
    if head is None:
        head = _read_head(db, run_id=run.id)
    if message_id is not None:
        existing = find_message(db, run_id=run.id, message_id=message_id)
        if existing is not None:
            return existing, False
    values: dict[str, Any] = {
        "id": message_id or new_id("msg"),
        "runId": run.id,
        "featureId": run.feature_id,
        "projectId": run.project_id,
        "sender": sender.value,
        "role": role.value if role else None,
        "content": content,
        "type": type.value,
        "timestamp": iso(utc_now()),
        "receipt": receipt.model_dump(by_alias=True, exclude_none=True) if receipt else None,
        "receiptFor": receipt_for,
        "mode": mode.value if mode else None,
        "options": options,
        "replyTo": reply_to,
    }
    for _ in range(MAX_APPEND_ATTEMPTS):
        values["cursor"] = format_cursor(head + 1)
        try:
            with store_errors("store the message"):
                db.client.put_item(
                    TableName=db.table(AGENT_MESSAGES),
                    Item=to_item(values),
                    ConditionExpression=MESSAGE_KEY_IS_FREE,
                )
        except ConditionFailed:
            skipped = list(_query_after(db, run_id=run.id, after=format_cursor(head)))
            for item in skipped:
                if item["id"] == values["id"]:
                    # A client id: a retried POST stored it (or this very put did). A
                    # generated id is unique to this call: an earlier attempt of this put
                    # committed and its answer was lost (botocore retried), so it is ours.
                    db.heads.advance(table, run.id, parse_cursor(item["cursor"]))
                    return AgentMessage.model_validate(item), message_id is None
            # A conflict at head + 1 means that key exists, so skipped is not empty.
            head = max([head + 1, *(parse_cursor(i["cursor"]) for i in skipped)])
            db.heads.advance(table, run.id, head)
            continue
        db.heads.advance(table, run.id, head + 1)
        return AgentMessage.model_validate(values), True
    raise StoreUnavailableError(
        f"Could not store the message: run {run.id} is under heavy write contention; try again."
    )


def _read_head(db: Db, *, run_id: str) -> int:
    with store_errors("read the thread head"):
        page = db.client.query(
            TableName=db.table(AGENT_MESSAGES),
            KeyConditionExpression="runId = :r",
            ExpressionAttributeValues={":r": to_value(run_id)},
            ProjectionExpression="#c",
            ExpressionAttributeNames={"#c": "cursor"},
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )
    items = page.get("Items", [])
    head = parse_cursor(from_item(items[0])["cursor"]) if items else 0
    db.heads.advance(db.table(AGENT_MESSAGES), run_id, head)
    return head


def find_message(db: Db, *, run_id: str, message_id: str) -> AgentMessage | None:
    """The run's message with this id (a strongly consistent LSI key lookup)."""
    items = list(
        query_all(
            db,
            action="look up the message id",
            TableName=db.table(AGENT_MESSAGES),
            IndexName="by_id",
            KeyConditionExpression="runId = :r AND id = :i",
            ExpressionAttributeValues={":r": to_value(run_id), ":i": to_value(message_id)},
            ConsistentRead=True,
        )
    )
    return AgentMessage.model_validate(items[0]) if items else None


def _query_after(
    db: Db, *, run_id: str, after: str, sender: MessageSender | None = None
) -> Iterator[dict[str, Any]]:
    kwargs: dict[str, Any] = {
        "TableName": db.table(AGENT_MESSAGES),
        "KeyConditionExpression": "runId = :r AND #c > :after",
        "ExpressionAttributeNames": {"#c": "cursor"},
        "ExpressionAttributeValues": {":r": to_value(run_id), ":after": to_value(after)},
        "ConsistentRead": True,
    }
    _add_sender_filter(kwargs, sender)
    return query_all(db, action="read the messages", **kwargs)


def _add_sender_filter(kwargs: dict[str, Any], sender: MessageSender | None) -> None:
    if sender is not None:
        kwargs["FilterExpression"] = "sender = :sender"
        kwargs["ExpressionAttributeValues"][":sender"] = to_value(sender.value)


def list_messages(
    db: Db,
    *,
    run_id: str,
    since: str | None = None,
    since_timestamp: str | None = None,
    sender: MessageSender | None = None,
    limit: int | None = None,
) -> list[AgentMessage]:
    """The run's thread, oldest first, every page followed.

    ``since`` is a cursor (exclusive) and ``since_timestamp`` a normalized ISO
    instant (exclusive); both are key conditions, on the table and on the
    ``by_timestamp`` LSI respectively. ``sender`` filters. ``limit`` stops early.
    """
    if since_timestamp is not None:
        kwargs: dict[str, Any] = {
            "TableName": db.table(AGENT_MESSAGES),
            "IndexName": "by_timestamp",
            "KeyConditionExpression": "runId = :r AND #t > :since",
            "ExpressionAttributeNames": {"#t": "timestamp"},
            "ExpressionAttributeValues": {
                ":r": to_value(run_id),
                ":since": to_value(since_timestamp),
            },
            "ConsistentRead": True,
        }
        _add_sender_filter(kwargs, sender)
        items: Iterator[dict[str, Any]] = query_all(db, action="read the messages", **kwargs)
        messages = sorted((AgentMessage.model_validate(i) for i in items), key=lambda m: m.cursor)
        return messages[:limit] if limit is not None else messages
    messages = []
    for item in _query_after(db, run_id=run_id, after=since or START_CURSOR, sender=sender):
        messages.append(AgentMessage.model_validate(item))
        if limit is not None and len(messages) >= limit:
            break
    return messages


def list_messages_by_feature(db: Db, *, feature_id: str) -> list[AgentMessage]:
    """Every run's messages of a feature (the ``by_feature`` GSI), oldest first."""
    items = query_all(
        db,
        action="read the feature's messages",
        TableName=db.table(AGENT_MESSAGES),
        IndexName="by_feature",
        KeyConditionExpression="featureId = :f",
        ExpressionAttributeValues={":f": to_value(feature_id)},
    )
    messages = [AgentMessage.model_validate(i) for i in items]
    return sorted(messages, key=lambda m: (m.timestamp, m.run_id, m.cursor))


def count_messages_after(
    db: Db, *, run_id: str, after: str | None, exclude_sender: MessageSender
) -> int:
    """How many messages follow ``after`` that were not sent by ``exclude_sender``."""
    kwargs: dict[str, Any] = {
        "TableName": db.table(AGENT_MESSAGES),
        "KeyConditionExpression": "runId = :r AND #c > :after",
        "FilterExpression": "sender <> :sender",
        "ExpressionAttributeNames": {"#c": "cursor"},
        "ExpressionAttributeValues": {
            ":r": to_value(run_id),
            ":after": to_value(after or START_CURSOR),
            ":sender": to_value(exclude_sender.value),
        },
        "Select": "COUNT",
    }
    return query_count(db, action="count unread messages", **kwargs)


_WHERE_IT_IS: dict[ReceiptState | None, str] = {
    ReceiptState.SENT: "it was already sent to the agent",
    ReceiptState.DELIVERED: "it was already delivered",
    ReceiptState.NOT_DELIVERED: "it was closed as not delivered",
    ReceiptState.WITHDRAWN: "it was already withdrawn",
}


def withdraw_message(db: Db, *, run_id: str, message_id: str) -> AgentMessage:
    """Mark a queued user message ``withdrawn``; see ``close_queued``."""
    return close_queued(
        db,
        run_id=run_id,
        message_id=message_id,
        receipt=DeliveryReceipt(state=ReceiptState.WITHDRAWN),
    )


def close_queued(db: Db, *, run_id: str, message_id: str, receipt: DeliveryReceipt) -> AgentMessage:
    """Replace a ``queued`` receipt by a final one (a conditional write: only from ``queued``).

    Raises ``NotFoundError`` for an unknown message and ``ConflictError`` (with the
    state it has reached) once it was sent, delivered, not delivered or withdrawn.
    """
    message = find_message(db, run_id=run_id, message_id=message_id)
    if message is None:
        raise NotFoundError(f"Message {message_id} was not found in agent run {run_id}.")
    try:
        with store_errors("close the queued message"):
            raw = db.client.update_item(
                TableName=db.table(AGENT_MESSAGES),
                Key=to_item({"runId": run_id, "cursor": message.cursor}),
                UpdateExpression="SET receipt = :receipt",
                ConditionExpression=RECEIPT_IS_QUEUED,
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":receipt": to_value(receipt.model_dump(by_alias=True, exclude_none=True)),
                    ":queued": to_value(ReceiptState.QUEUED.value),
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
    except ConditionFailed:
        current = find_message(db, run_id=run_id, message_id=message_id) or message
        state = current.receipt.state if current.receipt else None
        where = _WHERE_IT_IS.get(state, "it has no delivery receipt")
        raise ConflictError(f"Message {message_id} is no longer queued: {where}.") from None
    return AgentMessage.model_validate(from_item(raw))
