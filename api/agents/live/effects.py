"""The live session's effects on the service: chat messages, receipts, phases, cost.

Why separate: ``LiveSession`` is pure decision logic; this is where its
decisions meet the store (through the same services every other writer uses,
so streams wake and notices stay one per change). Receipts are recorded by the
process that runs the step — never by the agent — and only move forward, so a
message withdrawn or already delivered elsewhere is simply not written.
"""

from __future__ import annotations

import contextlib

from api.agents.live.contract import is_sent_live
from api.agents.relay import FeatureRelay
from api.services.bus import MessageBus
from api.services.messages import post_message
from api.services.receipts import announce_sent, mark_delivered, record_sent
from api.services.status import report_status
from api.store.db import Db
from api.store.errors import ConflictError
from api.store.messages import list_messages
from api.store.runs import get_run, set_run_usage
from core.models import (
    AgentMessage,
    AgentRun,
    AgentRunStatus,
    DeliveryChannel,
    MessageSender,
    RunUsage,
)

#: Longest agent text posted in the chat per turn; the whole text is in the logs.
MAX_CHAT_TEXT_CHARS = 4_000
CLIPPED_NOTE = "\n\n… (clipped: the whole answer is in the logs)"


def clip_for_chat(text: str) -> str:
    if len(text) <= MAX_CHAT_TEXT_CHARS:
        return text
    return text[: MAX_CHAT_TEXT_CHARS - len(CLIPPED_NOTE)].rstrip() + CLIPPED_NOTE


class StoreEffects:
    def __init__(self, db: Db, bus: MessageBus, *, run: AgentRun, relay: FeatureRelay) -> None:
        self._db = db
        self._bus = bus
        self._run = run
        self._relay = relay
        self._since: str | None = None

    def say(self, text: str) -> None:
        post_message(
            self._db,
            self._bus,
            run=self._run,
            sender=MessageSender.AGENT,
            role=self._run.role,
            content=clip_for_chat(text),
        )

    def phase(self, status: AgentRunStatus) -> None:
        if get_run(self._db, run_id=self._run.id).status is AgentRunStatus.WAITING:
            return  # the agent asked the person; the question's answer ends the wait
        with contextlib.suppress(ConflictError):  # the run ended meanwhile
            report_status(self._db, self._bus, run_id=self._run.id, status=status)

    def sending(self, message: AgentMessage) -> AgentMessage | None:
        if is_sent_live(message) and message.receipt and message.receipt.run_id == self._run.id:
            self._relay.refresh(message)  # stored sent by its POST: nothing to write first
            return message
        try:
            stored = record_sent(self._db, message=message, to=self._run)
        except ConflictError:
            self._relay.forget(message.id)
            return None
        self._relay.refresh(stored)
        return stored

    def sent(self, message: AgentMessage) -> None:
        announce_sent(self._db, self._bus, origin=self._run, message=message)

    def delivered(self, message: AgentMessage) -> None:
        mark_delivered(  # a duplicate echo finds it delivered: the receipt stands
            self._db,
            self._bus,
            origin=self._run,
            message=message,
            to=self._run,
            channel=DeliveryChannel.LIVE,
        )
        self._relay.forget(message.id)

    def usage(self, total: RunUsage) -> None:
        set_run_usage(self._db, run_id=self._run.id, usage=total)

    def new_user_messages(self) -> list[AgentMessage]:
        found = list_messages(self._db, run_id=self._run.id, since=self._since)
        if found:
            self._since = found[-1].cursor
        return [m for m in found if m.sender is MessageSender.USER]
