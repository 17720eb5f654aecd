"""The message relay of one feature: pending user messages, receipts, delivery notices.

How a user message reaches an agent (the seed's section 6, made verifiable):

1. The monitor loop polls each run of the feature for user messages after the
   run's **relay cursor** (``list_messages(run_id, since=...)``) and keeps them
   pending. While a step runs they are also written to its inbox
   (``api.agents.inbox``): that is the message's first delivery (channel
   ``inbox``).
2. When the next step starts, every pending message is handed to it in
   ``OMAKASE_USER_MESSAGES`` (channel ``relay``; the first delivery if the
   inbox did not see it first), and the relay cursors move past them. Those
   cursors live on the feature item in DynamoDB, written (guarded by the claim)
   before the step's process starts: after a restart nothing is lost (pending
   = after the cursor) and nothing is relayed twice (delivered = before it).
3. Each message's receipt records its FIRST delivery (state, time, run, role,
   step, channel); a status notice in the message's own thread carries the
   receipt (``receiptFor``) so live chats update the bubble. Notices use a
   deterministic client id, so a retried write never posts two.
4. When the pipeline ends, a message no step received is marked
   ``not_delivered`` with the reason "the pipeline ended".

One process owns a feature's pipeline (``api.store.claims``), so only it
writes these receipts. The lock serialises the monitor thread and the pipeline.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from api.agents.guidance import GuidanceMessage
from api.services.bus import MessageBus
from api.services.messages import post_message
from api.store.claims import advance_relay_cursors
from api.store.db import Db
from api.store.messages import MessageWithdrawnError, list_messages, set_receipt
from core.agents import persona
from core.models import (
    AgentMessage,
    AgentRun,
    DeliveryReceipt,
    MessageSender,
    MessageType,
    ReceiptState,
    iso,
    utc_now,
)

CHANNEL_RELAY = "relay"
CHANNEL_INBOX = "inbox"
PIPELINE_ENDED = "the pipeline ended"
#: Client-id prefixes of the notices (one notice per message, even on retries).
DELIVERED_NOTICE_PREFIX = "rcpt-"
NOT_DELIVERED_NOTICE_PREFIX = "nodl-"


def describe_run(run: AgentRun) -> str:
    return f"{persona(run.role).name} ({run.role.value}, step {run.step})"


def is_delivered(message: AgentMessage) -> bool:
    return message.receipt is not None and message.receipt.state is ReceiptState.DELIVERED


def is_withdrawn(message: AgentMessage) -> bool:
    return message.receipt is not None and message.receipt.state is ReceiptState.WITHDRAWN


@dataclass
class Delivery:
    """What a step received through the relay."""

    messages: list[AgentMessage]
    records: list[dict[str, Any]]


class FeatureRelay:
    def __init__(
        self,
        db: Db,
        bus: MessageBus,
        *,
        feature_id: str,
        owner_id: str,
        relay_cursors: dict[str, str],
        runs: Iterable[AgentRun] = (),
    ) -> None:
        self._db = db
        self._bus = bus
        self.feature_id = feature_id
        self.owner_id = owner_id
        self.runs: dict[str, AgentRun] = {run.id: run for run in runs}
        #: Persisted: messages up to here were relayed into a step.
        self.cursors = dict(relay_cursors)
        #: In memory: messages up to here were fetched (pending or relayed).
        self._seen: dict[str, str] = dict(relay_cursors)
        self.pending: dict[str, AgentMessage] = {}
        self.lock = threading.RLock()

    def add_run(self, run: AgentRun) -> None:
        with self.lock:
            self.runs[run.id] = run

    # --- polling --------------------------------------------------------------------

    def poll(self) -> list[AgentMessage]:
        """Fetch user messages that landed since the last poll; returns the new ones."""
        with self.lock:
            fresh: list[AgentMessage] = []
            for run_id in list(self.runs):
                # Every sender, filtered here: the position then moves past agent
                # messages and notices too, so each message is read once.
                found = list_messages(self._db, run_id=run_id, since=self._seen.get(run_id))
                for message in found:
                    if (
                        message.sender is MessageSender.USER
                        and message.id not in self.pending
                        and not is_withdrawn(message)
                    ):
                        self.pending[message.id] = message
                        fresh.append(message)
                if found:
                    self._seen[run_id] = found[-1].cursor
            return fresh

    def pending_in_order(self) -> list[AgentMessage]:
        with self.lock:
            return sorted(self.pending.values(), key=lambda m: (m.timestamp, m.cursor))

    # --- receipts -------------------------------------------------------------------

    def _notify(
        self, message: AgentMessage, receipt: DeliveryReceipt, text: str, prefix: str
    ) -> None:
        origin = self.runs[message.run_id]
        post_message(
            self._db,
            self._bus,
            run=origin,
            sender=MessageSender.AGENT,
            role=origin.role,
            content=text,
            type=MessageType.STATUS,
            message_id=f"{prefix}{message.id}",
            receipt=receipt,
            receipt_for=message.id,
        )

    def _mark_delivered(
        self, message: AgentMessage, to: AgentRun, channel: str
    ) -> AgentMessage | None:
        """The delivered message, or None (and dropped) if it was withdrawn meanwhile."""
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
        try:
            stored = set_receipt(
                self._db, run_id=message.run_id, cursor=message.cursor, receipt=receipt
            )
        except MessageWithdrawnError:
            self.pending.pop(message.id, None)
            return None
        via = " via the inbox" if channel == CHANNEL_INBOX else ""
        self._notify(
            stored, receipt, f"📬 Delivered to {describe_run(to)}{via}", DELIVERED_NOTICE_PREFIX
        )
        return stored

    # --- deliveries -----------------------------------------------------------------

    def deliver_to_inbox(self, run: AgentRun) -> list[AgentMessage]:
        """Poll, receipt the pending messages for the running step; returns the inbox."""
        with self.lock:
            self.poll()
            for message in self.pending_in_order():
                if not is_delivered(message):
                    stored = self._mark_delivered(message, run, CHANNEL_INBOX)
                    if stored is not None:
                        self.pending[message.id] = stored
            return self.pending_in_order()

    def deliver_to_step(self, run: AgentRun) -> Delivery:
        """Hand every pending message to the step about to start (and persist the cursors)."""
        with self.lock:
            self.poll()
            batch = self.pending_in_order()
            marked = [self._mark_delivered(m, run, CHANNEL_RELAY) for m in batch]
            delivered = [m for m in marked if m is not None]
            moved: dict[str, str] = {}
            for message in delivered:
                if message.cursor > moved.get(message.run_id, ""):
                    moved[message.run_id] = message.cursor
            advance_relay_cursors(
                self._db, feature_id=self.feature_id, owner_id=self.owner_id, cursors=moved
            )
            self.cursors.update(moved)
            self.pending.clear()
            return Delivery(messages=delivered, records=[self.record(m) for m in delivered])

    def close_undelivered(self) -> list[AgentMessage]:
        """The pipeline ended: messages no step received are marked not delivered."""
        with self.lock:
            self.poll()
            closed = []
            for message in self.pending_in_order():
                if is_delivered(message):
                    continue
                receipt = DeliveryReceipt(state=ReceiptState.NOT_DELIVERED, reason=PIPELINE_ENDED)
                try:
                    stored = set_receipt(
                        self._db, run_id=message.run_id, cursor=message.cursor, receipt=receipt
                    )
                except MessageWithdrawnError:
                    continue
                self._notify(
                    stored,
                    receipt,
                    f"📭 Not delivered: {PIPELINE_ENDED}",
                    NOT_DELIVERED_NOTICE_PREFIX,
                )
                closed.append(stored)
            self.pending.clear()
            return closed

    # --- views ----------------------------------------------------------------------

    def record(self, message: AgentMessage) -> dict[str, Any]:
        """One OMAKASE_USER_MESSAGES entry."""
        origin = self.runs.get(message.run_id)
        return {
            "id": message.id,
            "runId": message.run_id,
            "content": message.content,
            "timestamp": message.timestamp,
            "cursor": message.cursor,
            "sentToRole": origin.role.value if origin else None,
            "sentToStep": origin.step if origin else None,
            "firstDelivery": message.receipt.model_dump(by_alias=True, exclude_none=True)
            if message.receipt
            else None,
        }

    def guidance(self) -> list[GuidanceMessage]:
        """ALL user messages of the feature so far, oldest first (for CLAUDE.md)."""
        with self.lock:
            collected: list[AgentMessage] = []
            for run_id in list(self.runs):
                collected += list_messages(self._db, run_id=run_id, sender=MessageSender.USER)
            collected.sort(key=lambda m: (m.timestamp, m.cursor))
            return [
                GuidanceMessage(
                    id=m.id,
                    timestamp=m.timestamp,
                    content=m.content,
                    sent_to=describe_run(self.runs[m.run_id]),
                )
                for m in collected
                if not is_withdrawn(m)
            ]
