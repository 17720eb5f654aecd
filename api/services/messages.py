"""Posting messages: the store append plus the in-process wake-up of streams.

Every message the service writes goes through ``post_message`` so that no
writer forgets to notify the stream hub.
"""

from __future__ import annotations

from api.services.bus import MessageBus
from api.store.db import Db
from api.store.messages import create_message
from core.models import (
    AgentMessage,
    AgentRun,
    AgentRunRole,
    DeliveryReceipt,
    MessageSender,
    MessageType,
)


def post_message(
    db: Db,
    bus: MessageBus,
    *,
    run: AgentRun,
    sender: MessageSender,
    content: str,
    type: MessageType = MessageType.MESSAGE,
    role: AgentRunRole | None = None,
    message_id: str | None = None,
    receipt: DeliveryReceipt | None = None,
    receipt_for: str | None = None,
) -> tuple[AgentMessage, bool]:
    """Append a message to ``run``'s thread and wake this process's streams.

    Returns ``(message, created)``; see ``api.store.messages.create_message``.
    """
    message, created = create_message(
        db,
        run=run,
        sender=sender,
        content=content,
        type=type,
        role=role,
        message_id=message_id,
        receipt=receipt,
        receipt_for=receipt_for,
    )
    if created:
        bus.publish(message)
    return message, created
