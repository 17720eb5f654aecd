"""Delivery receipts of user messages, and the chat notices that carry them.

Why one module: a message can reach an agent several ways (the next step's
start, the inbox file, a live agent's input, the ``check_messages`` MCP tool),
and every way must record the receipt the same way: the message's stored
``receipt`` moves forward (``ReceiptState.rank``), and one notice in the
message's own thread carries the new receipt (``receiptFor``) so open chats
update the bubble. Notice ids are derived from the message id and the state,
so a retried write never posts two.
"""

from __future__ import annotations

from api.services.bus import MessageBus
from api.services.messages import post_message
from api.store.db import Db
from api.store.messages import set_receipt
from core.agents import persona
from core.models import (
    AgentMessage,
    AgentRun,
    DeliveryChannel,
    DeliveryReceipt,
    MessageSender,
    MessageType,
    ReceiptState,
    iso,
    utc_now,
)

#: Client-id prefixes of the notices (one notice per message and state, even on retries).
DELIVERED_NOTICE_PREFIX = "rcpt-"
NOT_DELIVERED_NOTICE_PREFIX = "nodl-"
SENT_NOTICE_PREFIX = "live-sent-"

#: How each channel is named in the "Delivered to …" notice.
CHANNEL_WORDS: dict[str, str] = {
    DeliveryChannel.LIVE: " live, during its step",
    DeliveryChannel.RELAY: "",
    DeliveryChannel.INBOX: " via the inbox",
    DeliveryChannel.MCP: " via check_messages",
}


def describe_run(run: AgentRun) -> str:
    return f"{persona(run.role).name} ({run.role.value}, step {run.step})"


def is_delivered(message: AgentMessage) -> bool:
    return message.receipt is not None and message.receipt.state is ReceiptState.DELIVERED


def state_of(message: AgentMessage) -> ReceiptState:
    return message.receipt.state if message.receipt is not None else ReceiptState.QUEUED


def notify(
    db: Db,
    bus: MessageBus,
    *,
    origin: AgentRun,
    message: AgentMessage,
    receipt: DeliveryReceipt,
    text: str,
    notice_id: str,
) -> None:
    """Post the notice that carries ``receipt`` into the message's own thread."""
    post_message(
        db,
        bus,
        run=origin,
        sender=MessageSender.AGENT,
        role=origin.role,
        content=text,
        type=MessageType.STATUS,
        message_id=notice_id,
        receipt=receipt,
        receipt_for=message.id,
    )


def receipt_for(
    to: AgentRun, *, state: ReceiptState, channel: DeliveryChannel, previous: DeliveryReceipt | None
) -> DeliveryReceipt:
    now = iso(utc_now())
    sent_at = previous.sent_at if previous is not None else None
    return DeliveryReceipt(
        state=state,
        delivered_at=now if state is ReceiptState.DELIVERED else None,
        sent_at=now if state is ReceiptState.SENT else sent_at,
        run_id=to.id,
        role=to.role,
        step=to.step,
        channel=channel.value,
    )


def record_sent(db: Db, *, message: AgentMessage, to: AgentRun) -> AgentMessage:
    """Receipt ``sent`` (the commit point: a withdrawn message raises ``ConflictError``).

    Called just before the message is written to a live agent's input; the notice
    follows the write (``announce_sent``), so the write waits for one store call.
    """
    receipt = receipt_for(to, state=ReceiptState.SENT, channel=DeliveryChannel.LIVE, previous=None)
    return set_receipt(db, run_id=message.run_id, cursor=message.cursor, receipt=receipt)


def announce_sent(db: Db, bus: MessageBus, *, origin: AgentRun, message: AgentMessage) -> None:
    assert message.receipt is not None
    notify(
        db,
        bus,
        origin=origin,
        message=message,
        receipt=message.receipt,
        text=f"📨 Sent to {persona(origin.role).name} during its step; waiting for it to take it",
        notice_id=f"{SENT_NOTICE_PREFIX}{message.id}",
    )


def mark_delivered(
    db: Db,
    bus: MessageBus,
    *,
    origin: AgentRun,
    message: AgentMessage,
    to: AgentRun,
    channel: DeliveryChannel,
) -> AgentMessage:
    """The message reached the agent (its first delivery); a no-op if it already had."""
    if is_delivered(message):
        return message
    receipt = receipt_for(
        to, state=ReceiptState.DELIVERED, channel=channel, previous=message.receipt
    )
    stored = set_receipt(db, run_id=message.run_id, cursor=message.cursor, receipt=receipt)
    notify(
        db,
        bus,
        origin=origin,
        message=stored,
        receipt=receipt,
        text=f"📬 Delivered to {describe_run(to)}{CHANNEL_WORDS.get(channel, '')}",
        notice_id=f"{DELIVERED_NOTICE_PREFIX}{message.id}",
    )
    return stored


def mark_not_delivered(
    db: Db, bus: MessageBus, *, origin: AgentRun, message: AgentMessage, reason: str
) -> AgentMessage:
    receipt = DeliveryReceipt(state=ReceiptState.NOT_DELIVERED, reason=reason)
    stored = set_receipt(db, run_id=message.run_id, cursor=message.cursor, receipt=receipt)
    notify(
        db,
        bus,
        origin=origin,
        message=stored,
        receipt=receipt,
        text=f"📭 Not delivered: {reason}",
        notice_id=f"{NOT_DELIVERED_NOTICE_PREFIX}{message.id}",
    )
    return stored
