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
from typing import Any

from api.agents.guidance import GuidanceMessage
from api.agents.receipts import (
    describe_run,
    is_delivered,
    mark_delivered,
    mark_not_delivered,
    receipt_for,
    state_of,
)
from api.services.bus import MessageBus
from api.store.claims import advance_relay_cursors
from api.store.db import Db
from api.store.errors import ConflictError
from api.store.messages import list_messages
from core.models import (
    AgentMessage,
    AgentRun,
    DeliveryChannel,
    DeliveryMode,
    MessageSender,
    ReceiptState,
)

PIPELINE_ENDED = "the pipeline ended"
#: Channels through which the agent itself confirmed a message: it is consumed and
#: is not handed to the next step again (the CLAUDE.md guidance still lists it).
CONSUMING_CHANNELS = frozenset({DeliveryChannel.LIVE.value, DeliveryChannel.MCP.value})
#: Receipt states that end a message's way: nothing delivers it any more.
FINAL_STATES = frozenset({ReceiptState.NOT_DELIVERED, ReceiptState.WITHDRAWN})


def is_consumed(message: AgentMessage) -> bool:
    """Delivered to a live agent (or read through MCP): no later step gets it again."""
    receipt = message.receipt
    return is_delivered(message) and receipt is not None and receipt.channel in CONSUMING_CHANNELS


def awaits_delivery(message: AgentMessage) -> bool:
    """A user message that some step should still receive."""
    return (
        message.sender is MessageSender.USER
        and state_of(message) not in FINAL_STATES
        and not is_consumed(message)
    )


def wants_mid_step(message: AgentMessage) -> bool:
    """The person asked for this step to hear it (not held for the next one)."""
    return message.mode is not DeliveryMode.QUEUE


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
                    if awaits_delivery(message) and message.id not in self.pending:
                        self.pending[message.id] = message
                        fresh.append(message)
                if found:
                    self._seen[run_id] = found[-1].cursor
            return fresh

    def pending_in_order(self) -> list[AgentMessage]:
        with self.lock:
            return sorted(self.pending.values(), key=lambda m: (m.timestamp, m.cursor))

    # --- receipts -------------------------------------------------------------------

    def _mark_delivered(
        self, message: AgentMessage, to: AgentRun, channel: DeliveryChannel
    ) -> AgentMessage | None:
        """Receipt a delivery; None if the message went another way meanwhile."""
        try:
            return mark_delivered(
                self._db,
                self._bus,
                origin=self.runs[message.run_id],
                message=message,
                to=to,
                channel=channel,
            )
        except ConflictError:
            # Its receipt moved on elsewhere (withdrawn, or consumed by a live agent /
            # check_messages in this step): not ours to deliver any more.
            return None

    def forget(self, message_id: str) -> None:
        """A message that went another way (live, MCP, withdrawn): no longer pending."""
        with self.lock:
            self.pending.pop(message_id, None)

    def refresh(self, message: AgentMessage) -> None:
        """Keep the pending copy current (its receipt moved forward, e.g. ``sent``)."""
        with self.lock:
            if message.id in self.pending:
                if awaits_delivery(message):
                    self.pending[message.id] = message
                else:
                    self.pending.pop(message.id, None)

    # --- deliveries -----------------------------------------------------------------

    def deliver_to_inbox(self, run: AgentRun) -> list[AgentMessage]:
        """Poll, receipt the pending messages for the running step; returns the inbox."""
        with self.lock:
            self.poll()
            for message in self.pending_in_order():
                if not is_delivered(message) and wants_mid_step(message):
                    stored = self._mark_delivered(message, run, DeliveryChannel.INBOX)
                    if stored is None:
                        self.pending.pop(message.id, None)
                    else:
                        self.pending[message.id] = stored
            return [m for m in self.pending_in_order() if wants_mid_step(m)]

    def batch_for_step(self) -> list[AgentMessage]:
        """Every pending message, for the step about to start (nothing is written yet)."""
        with self.lock:
            self.poll()
            return self.pending_in_order()

    def deliver_to_step(self, run: AgentRun, batch: list[AgentMessage]) -> list[AgentMessage]:
        """The step's process started with ``batch``: receipt it and persist the cursors.

        Called only once the process exists, so a step that could not start (a bad
        command, an environment the kernel refused) leaves its messages pending for
        the next attempt, with no receipt claiming they arrived.
        """
        with self.lock:
            marked = [self._mark_delivered(m, run, DeliveryChannel.RELAY) for m in batch]
            delivered = [m for m in marked if m is not None]
            moved: dict[str, str] = {}
            for message in batch:
                if message.cursor > moved.get(message.run_id, ""):
                    moved[message.run_id] = message.cursor
            advance_relay_cursors(
                self._db, feature_id=self.feature_id, owner_id=self.owner_id, cursors=moved
            )
            self.cursors.update(moved)
            for message in batch:
                self.pending.pop(message.id, None)
            return delivered

    def close_undelivered(self) -> list[AgentMessage]:
        """The pipeline ended: messages no step received are marked not delivered."""
        with self.lock:
            self.poll()
            closed = []
            for message in self.pending_in_order():
                if is_delivered(message):
                    continue
                try:
                    stored = mark_not_delivered(
                        self._db,
                        self._bus,
                        origin=self.runs[message.run_id],
                        message=message,
                        reason=PIPELINE_ENDED,
                    )
                except ConflictError:
                    continue  # withdrawn or delivered meanwhile
                closed.append(stored)
            self.pending.clear()
            return closed

    # --- views ----------------------------------------------------------------------

    def record(self, message: AgentMessage, to: AgentRun) -> dict[str, Any]:
        """One OMAKASE_USER_MESSAGES entry for the step ``to`` (its first delivery, if none)."""
        origin = self.runs.get(message.run_id)
        first = message.receipt if is_delivered(message) else None
        if first is None:
            first = receipt_for(
                to, state=ReceiptState.DELIVERED, channel=DeliveryChannel.RELAY, previous=None
            )
        return {
            "id": message.id,
            "runId": message.run_id,
            "content": message.content,
            "timestamp": message.timestamp,
            "cursor": message.cursor,
            "sentToRole": origin.role.value if origin else None,
            "sentToStep": origin.step if origin else None,
            "firstDelivery": first.model_dump(by_alias=True, exclude_none=True),
        }

    def guidance(self) -> list[GuidanceMessage]:
        """ALL user messages of the feature so far, oldest first (for CLAUDE.md)."""
        with self.lock:
            collected: list[AgentMessage] = []
            for run_id in list(self.runs):
                collected += [
                    m
                    for m in list_messages(self._db, run_id=run_id, sender=MessageSender.USER)
                    if state_of(m) is not ReceiptState.WITHDRAWN  # taken back: no agent sees it
                ]
            collected.sort(key=lambda m: (m.timestamp, m.cursor))
            return [
                GuidanceMessage(
                    id=m.id,
                    timestamp=m.timestamp,
                    content=m.content,
                    sent_to=describe_run(self.runs[m.run_id]),
                )
                for m in collected
            ]
