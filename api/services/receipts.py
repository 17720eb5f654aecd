"""Marking a user message delivered, with its notice: one implementation for every channel.

The relay (inbox, next step), ``check_messages`` and question answers all
receipt user messages. The write is forward-only (``advance_receipt``), so a
writer holding a stale copy never overwrites a newer receipt, and the notice
in the message's thread has a deterministic id, so the chat gets exactly one
"📬 Delivered to …" per message, whoever won and however often it is retried.
"""

from __future__ import annotations

from api.services.bus import MessageBus
from api.services.messages import post_message
from api.store.db import Db
from api.store.receipts import advance_receipt
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

#: Client-id prefix of the delivery notices (one notice per message, even on retries).
DELIVERED_NOTICE_PREFIX = "rcpt-"
#: How the notice names a channel ("📬 Delivered to Nori (coder, step 2) via the inbox").
CHANNEL_WORDS: dict[str, str] = {
    DeliveryChannel.INBOX.value: " via the inbox",
    DeliveryChannel.MCP.value: " via its omakase tools",
}


def describe_run(run: AgentRun) -> str:
    return f"{persona(run.role).name} ({run.role.value}, step {run.step})"


def is_delivered(message: AgentMessage) -> bool:
    return message.receipt is not None and message.receipt.state is ReceiptState.DELIVERED


def notify_receipt(
    db: Db,
    bus: MessageBus,
    *,
    message: AgentMessage,
    origin: AgentRun,
    receipt: DeliveryReceipt,
    text: str,
    prefix: str,
) -> None:
    """The receipt's notice in the message's own thread (``receiptFor``), posted once."""
    post_message(
        db,
        bus,
        run=origin,
        sender=MessageSender.AGENT,
        role=origin.role,
        content=text,
        type=MessageType.STATUS,
        message_id=f"{prefix}{message.id}",
        receipt=receipt,
        receipt_for=message.id,
    )


def mark_delivered(
    db: Db,
    bus: MessageBus,
    *,
    message: AgentMessage,
    origin: AgentRun,
    to: AgentRun,
    channel: str,
) -> AgentMessage:
    """Record ``message``'s first delivery (to ``to`` through ``channel``) and its notice.

    ``origin`` is the run whose thread holds the message. Returns the message as
    stored: when another writer delivered (or withdrew) it first, its receipt stands.
    """
    if is_delivered(message):
        return message
    receipt = DeliveryReceipt(
        state=ReceiptState.DELIVERED,
        delivered_at=iso(utc_now()),
        run_id=to.id,
        role=to.role,
        step=to.step,
        channel=channel,
    )
    stored, _ = advance_receipt(db, run_id=message.run_id, cursor=message.cursor, receipt=receipt)
    if stored.receipt is not None and is_delivered(stored):
        # Also when another writer won: its notice may have been lost between its two
        # writes; the deterministic id makes this a no-op when the notice is there.
        winner = stored.receipt
        text = f"📬 Delivered to {_describe_target(winner, fallback=to)}"
        text += CHANNEL_WORDS.get(winner.channel or "", "")
        notify_receipt(
            db,
            bus,
            message=stored,
            origin=origin,
            receipt=winner,
            text=text,
            prefix=DELIVERED_NOTICE_PREFIX,
        )
    return stored


def _describe_target(receipt: DeliveryReceipt, *, fallback: AgentRun) -> str:
    if receipt.run_id == fallback.id or receipt.role is None or receipt.step is None:
        return describe_run(fallback)
    return f"{persona(receipt.role).name} ({receipt.role.value}, step {receipt.step})"
