"""``check_messages``: the person's messages for the running step, handed over as a tool result.

Which messages: the run's user messages that are still ``queued``, or that the
relay only wrote to the workspace's inbox file (an agent using its tools may
never read that file) and no earlier check returned. Left out: answers to a
question (``replyTo``: ``ask_human`` returned them), messages the person held
for the next step (mode ``queue``), messages a live runner already wrote to the
agent (``sent``/``live``: the agent gets them at its next tool boundary), and
withdrawn ones. Each returned message is receipted ``delivered`` (channel
``mcp``) unless an earlier channel already was its first delivery.
"""

from __future__ import annotations

from api.services.bus import MessageBus
from api.services.receipts import mark_delivered
from api.store.db import Db
from api.store.messages import list_messages
from api.store.questions import advance_mcp_cursor
from core.models import (
    AgentMessage,
    AgentRun,
    DeliveryChannel,
    DeliveryMode,
    MessageSender,
    ReceiptState,
)

#: Channels whose delivery did not put the text in the agent's context.
FILE_CHANNELS = frozenset({DeliveryChannel.INBOX.value, DeliveryChannel.MCP.value})


def _wanted(message: AgentMessage) -> bool:
    if message.reply_to is not None or message.mode is DeliveryMode.QUEUE:
        return False
    receipt = message.receipt
    if receipt is None or receipt.state is ReceiptState.QUEUED:
        return True
    return receipt.state is ReceiptState.DELIVERED and receipt.channel in FILE_CHANNELS


def check_messages(
    db: Db, bus: MessageBus, *, run: AgentRun, since: str | None = None
) -> list[AgentMessage]:
    """The user messages for the agent since ``since`` (default: the last check), delivered."""
    after = since or run.mcp_cursor
    found = list_messages(db, run_id=run.id, since=after, sender=MessageSender.USER)
    handed: list[AgentMessage] = []
    for message in (m for m in found if _wanted(m)):
        stored = mark_delivered(
            db, bus, message=message, origin=run, to=run, channel=DeliveryChannel.MCP.value
        )
        if _wanted(stored):  # not withdrawn or sent live meanwhile
            handed.append(stored)
    if handed:
        advance_mcp_cursor(db, run_id=run.id, cursor=handed[-1].cursor)
    return handed
