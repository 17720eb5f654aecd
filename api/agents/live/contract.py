"""The live session's contract: which messages it takes, their uuids, what it does to the service.

Apart from ``api.agents.live.session`` (the decisions) so that the service side
(``effects``, the POST route's ``sent`` receipt) and the tests share one
definition of a message the running agent should hear.
"""

from __future__ import annotations

import uuid as uuidlib
from typing import Protocol

from core.models import (
    AgentMessage,
    AgentRunStatus,
    DeliveryChannel,
    DeliveryMode,
    ReceiptState,
    RunUsage,
)

#: Namespace of the uuids we give user messages (derived from the message id, so the
#: same message always has the same uuid).
MESSAGE_UUID_NAMESPACE = uuidlib.UUID("6f6d616b-6173-652d-6c69-76652d737465")


def message_uuid(message_id: str) -> str:
    return str(uuidlib.uuid5(MESSAGE_UUID_NAMESPACE, message_id))


class SessionEffects(Protocol):
    """What the session does to the service (implemented in ``api.agents.live.effects``)."""

    def say(self, text: str) -> None: ...

    def phase(self, status: AgentRunStatus) -> None: ...

    def sending(self, message: AgentMessage) -> AgentMessage | None:
        """Receipt ``sent`` before the write (unless the POST stored it so); None when
        the message went another way (e.g. withdrawn): then it is not written."""
        ...

    def sent(self, message: AgentMessage) -> None:
        """After the write: tell the chat (the receipt's notice)."""
        ...

    def delivered(self, message: AgentMessage) -> None: ...

    def usage(self, total: RunUsage) -> None: ...

    def new_user_messages(self) -> list[AgentMessage]:
        """User messages of the run posted since the last call (any API process)."""
        ...


def is_live_eligible(message: AgentMessage, *, pushed: bool = False) -> bool:
    """A user message the running agent should hear now (not held for the next step).

    ``queued``; or, handed over by this process's bus (``pushed``), already ``sent``
    live: the POST stored it so because this step listens here (``MessageBus.take_live``).
    A ``sent`` one found by the store poll is not ours to write (another step's, or
    already written).
    """
    if message.sender.value != "user" or message.mode is DeliveryMode.QUEUE:
        return False
    if message.reply_to is not None:
        return False
    receipt = message.receipt
    if receipt is None or receipt.state is ReceiptState.QUEUED:
        return True
    return pushed and is_sent_live(message)


def is_sent_live(message: AgentMessage) -> bool:
    """Stored already ``sent`` to a live step (by the POST): no ``sending`` write needed."""
    receipt = message.receipt
    return (
        receipt is not None
        and receipt.state is ReceiptState.SENT
        and receipt.channel == DeliveryChannel.LIVE.value
    )
