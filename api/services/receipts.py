"""Receipts of user messages, and the chat notices that carry them: one module for every way.

A message reaches an agent several ways — the next step's start (``relay``),
the mid-step inbox file (``inbox``), a live agent's input (``live``), the
``check_messages`` tool or a question's answer (``mcp``) — and every way
records its receipt here. Writes are forward-only (``advance_receipt``: the
store compares ranks, so a writer holding a stale copy never overwrites a newer
receipt, nor a withdrawal), and each change is posted once as a notice in the
message's own thread (``receiptFor``, a deterministic id), so open chats update
the bubble whoever wins and however often a write is retried.
"""

from __future__ import annotations

from api.services.bus import MessageBus
from api.services.messages import post_message
from api.store.db import Db
from api.store.errors import ConflictError
from api.store.receipts import PENDING_STATES, advance_receipt
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
#: How the notice names a channel ("📬 Delivered to Nori (coder, step 2) via the inbox").
CHANNEL_WORDS: dict[str, str] = {
    DeliveryChannel.LIVE.value: " live, during its step",
    DeliveryChannel.INBOX.value: " via the inbox",
    DeliveryChannel.MCP.value: " via its omakase tools",
}


def describe_run(run: AgentRun) -> str:
    return f"{persona(run.role).name} ({run.role.value}, step {run.step})"


def is_delivered(message: AgentMessage) -> bool:
    return message.receipt is not None and message.receipt.state is ReceiptState.DELIVERED


def state_of(message: AgentMessage) -> ReceiptState:
    return message.receipt.state if message.receipt is not None else ReceiptState.QUEUED


def receipt_for(
    to: AgentRun,
    *,
    state: ReceiptState,
    channel: DeliveryChannel | str,
    previous: DeliveryReceipt | None,
) -> DeliveryReceipt:
    now = iso(utc_now())
    return DeliveryReceipt(
        state=state,
        delivered_at=now if state is ReceiptState.DELIVERED else None,
        sent_at=now if state is ReceiptState.SENT else (previous.sent_at if previous else None),
        run_id=to.id,
        role=to.role,
        step=to.step,
        channel=str(channel),
    )


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
    channel: DeliveryChannel | str,
) -> AgentMessage:
    """Record ``message``'s first delivery (to ``to`` through ``channel``) and its notice.

    ``origin`` is the run whose thread holds the message. Returns the message as
    stored: when another writer delivered (or withdrew) it first, its receipt stands.
    """
    if is_delivered(message):
        return message
    receipt = receipt_for(
        to, state=ReceiptState.DELIVERED, channel=channel, previous=message.receipt
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


def record_sent(db: Db, *, message: AgentMessage, to: AgentRun) -> AgentMessage:
    """Receipt ``sent`` just before the message is written to a live agent's input.

    The commit point against a withdrawal: only a ``queued`` message may be sent;
    anything else raises ``ConflictError`` and the message is not written. The
    notice follows the write (``announce_sent``), so the write waits for one call.
    """
    receipt = receipt_for(to, state=ReceiptState.SENT, channel=DeliveryChannel.LIVE, previous=None)
    stored, written = advance_receipt(
        db,
        run_id=message.run_id,
        cursor=message.cursor,
        receipt=receipt,
        replaces={ReceiptState.QUEUED},
    )
    if not written:
        raise ConflictError(f"Message {message.id} is {state_of(stored).value}: not sent.")
    return stored


def announce_sent(db: Db, bus: MessageBus, *, origin: AgentRun, message: AgentMessage) -> None:
    assert message.receipt is not None
    notify_receipt(
        db,
        bus,
        message=message,
        origin=origin,
        receipt=message.receipt,
        text=f"📨 Sent to {persona(origin.role).name} during its step; waiting for it to take it",
        prefix=SENT_NOTICE_PREFIX,
    )


def mark_not_delivered(
    db: Db, bus: MessageBus, *, origin: AgentRun, message: AgentMessage, reason: str
) -> AgentMessage | None:
    """The pipeline ended before any step got it; None when it went another way meanwhile."""
    receipt = DeliveryReceipt(state=ReceiptState.NOT_DELIVERED, reason=reason)
    stored, written = advance_receipt(
        db, run_id=message.run_id, cursor=message.cursor, receipt=receipt, replaces=PENDING_STATES
    )
    if not written:
        return None
    notify_receipt(
        db,
        bus,
        message=stored,
        origin=origin,
        receipt=receipt,
        text=f"📭 Not delivered: {reason}",
        prefix=NOT_DELIVERED_NOTICE_PREFIX,
    )
    return stored
