"""``Conversation``: the one client-side state of a chat (a run's or a whole feature's).

Pure (no I/O, no threads, no Streamlit): the SSE reader of ``core.chat``
feeds it, the dashboard renders it, the tests drive it directly.

Why one state and these rules:

* **Steps in order, each step's thread in cursor order.** A feature stream
  interleaves its runs' feeds as they arrive (a step's closing notice can come
  after the next step's first words); messages are grouped by run — runs in
  the order they first appeared, i.e. pipeline order, as each step's start
  notice opens its thread — and kept in cursor order within a run. So a
  conversation reads step by step, one divider each. An index makes an
  update (same message again) replace in place; it is keyed by run *and* id,
  because ids are unique within a run's thread only (a client id such as the
  demo agent's ``reply-<message id>`` can recur in the next step's thread).
* **Optimistic copies keyed by the client id.** A send shows its message at
  once under a client id that *is* its server id, so the echo (POST answer or
  stream, whichever arrives first) replaces it: never shown twice.
* **Receipts only move forward** (``ReceiptState.rank``): a late, older copy
  of a message (a replay, a POST answer after the stream's update) never turns
  ``delivered`` back into ``queued``. Delivery notices (``receiptFor``) update
  their target the same way.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from core.models import (
    AgentMessage,
    DeliveryMode,
    DeliveryReceipt,
    MessageSender,
    ReceiptState,
    iso,
    utc_now,
)

#: Prefix of the client ids the dashboard and the CLI generate (valid server ids).
CLIENT_ID_PREFIX = "cli-"


def new_client_id() -> str:
    return f"{CLIENT_ID_PREFIX}{uuid.uuid4().hex}"


def newer_receipt(
    old: DeliveryReceipt | None, new: DeliveryReceipt | None
) -> DeliveryReceipt | None:
    """The receipt to keep: states only move forward; at equal rank the newer copy wins."""
    if new is None:
        return old
    if old is None or new.state.rank >= old.state.rank:
        return new
    return old


def awaiting(message: AgentMessage) -> bool:
    """A user message not yet sent or delivered (still withdrawable)."""
    return message.sender is MessageSender.USER and (
        message.receipt is None or message.receipt.state is ReceiptState.QUEUED
    )


@dataclass
class Conversation:
    """Messages in server order, optimistic sends, and the stream's position."""

    messages: list[AgentMessage] = field(default_factory=list)
    index: dict[tuple[str, str], int] = field(default_factory=dict)
    #: Runs in the order their first message arrived, and how many messages each has.
    run_order: list[str] = field(default_factory=list)
    run_counts: dict[str, int] = field(default_factory=dict)
    #: Client id → the optimistic copy, until its echo arrives (or it is rolled back).
    optimistic: dict[str, AgentMessage] = field(default_factory=dict)
    #: The SSE id to resume after (``Last-Event-ID``).
    last_event_id: str | None = None
    #: The last refusal of a send or withdrawal, shown until the next success.
    error: str | None = None
    #: The ``event: close`` payload once the stream said the conversation ended.
    ended: bool = False
    end_status: str | None = None
    #: Grows with every change: renderers redraw only when it moved.
    version: int = 0

    # --- feeding -----------------------------------------------------------------

    def apply(self, message: AgentMessage, *, event_id: str | None = None) -> None:
        """A server copy (stream event or POST answer)."""
        if event_id is not None:
            self.last_event_id = event_id
        if message.sender is MessageSender.USER:
            self.optimistic.pop(message.id, None)
        at = self.index.get((message.run_id, message.id))
        if at is None:
            self._insert(message)
        else:
            known = self.messages[at]
            receipt = newer_receipt(known.receipt, message.receipt)
            self.messages[at] = (
                message
                if receipt is message.receipt
                else message.model_copy(update={"receipt": receipt})
            )
        if message.receipt_for is not None and message.receipt is not None:
            receipt_for, thread = message.receipt_for, message.run_id
            self.set_receipt(receipt_for, message.receipt, run_id=thread, bump=False)
        self.version += 1

    def _insert(self, message: AgentMessage) -> None:
        """Put a new message at its place: the end of its run's group, by cursor."""
        run = message.run_id
        if run not in self.run_counts:
            self.run_order.append(run)
            self.run_counts[run] = 0
        start = 0
        for other in self.run_order:
            if other == run:
                break
            start += self.run_counts[other]
        end = start + self.run_counts[run]
        at = end
        if end > start and message.cursor < self.messages[end - 1].cursor:
            low, high = start, end
            while low < high:
                middle = (low + high) // 2
                if self.messages[middle].cursor < message.cursor:
                    low = middle + 1
                else:
                    high = middle
            at = low
        self.messages.insert(at, message)
        self.run_counts[run] += 1
        if at == len(self.messages) - 1:
            self.index[(run, message.id)] = at
        else:  # an earlier step (or an older message) spoke late: positions moved
            self.index = {(m.run_id, m.id): i for i, m in enumerate(self.messages)}

    def confirm(self, message: AgentMessage) -> None:
        """A POST answer: the stored copy; the send worked, so the last refusal is old news."""
        self.apply(message)
        self.error = None

    def set_receipt(
        self, message_id: str, receipt: DeliveryReceipt, *, run_id: str, bump: bool = True
    ) -> None:
        """A receipt for a message of ``run_id``'s thread (notices name their own thread's)."""
        at = self.index.get((run_id, message_id))
        if at is None:
            return
        target = self.messages[at]
        kept = newer_receipt(target.receipt, receipt)
        if kept is not target.receipt:
            self.messages[at] = target.model_copy(update={"receipt": kept})
            if bump:
                self.version += 1

    def add_optimistic(
        self,
        content: str,
        *,
        run_id: str = "",
        feature_id: str = "",
        mode: DeliveryMode | None = None,
        client_id: str | None = None,
    ) -> AgentMessage:
        message = AgentMessage(
            id=client_id or new_client_id(),
            run_id=run_id,
            feature_id=feature_id,
            project_id="",
            sender=MessageSender.USER,
            content=content,
            timestamp=iso(utc_now()),
            cursor="",
            mode=mode,
        )
        self.optimistic[message.id] = message
        self.error = None
        self.version += 1
        return message

    def roll_back(self, client_id: str, detail: str) -> None:
        """The API refused a send: remove its bubble and say why."""
        removed = self.optimistic.pop(client_id, None)
        shown = removed.content if removed else ""
        preview = shown if len(shown) <= 60 else shown[:57] + "…"
        self.error = f'Not sent: "{preview}" — {detail}' if removed else detail
        self.version += 1

    def withdrawn(self, message_id: str, run_id: str) -> None:
        """The API accepted a withdrawal (204)."""
        self.set_receipt(message_id, DeliveryReceipt(state=ReceiptState.WITHDRAWN), run_id=run_id)
        self.error = None
        self.version += 1

    def fail(self, detail: str) -> None:
        self.error = detail
        self.version += 1

    def end(self, status: str | None) -> None:
        self.ended = True
        self.end_status = status
        self.version += 1

    # --- reading -------------------------------------------------------------------

    def get(self, message_id: str, run_id: str | None = None) -> AgentMessage | None:
        """A message by id (the newest of that id when no run is named), or an optimistic one."""
        if run_id is not None:
            at = self.index.get((run_id, message_id))
            return self.messages[at] if at is not None else None
        for message in reversed(self.messages):
            if message.id == message_id:
                return message
        return self.optimistic.get(message_id)

    def all_messages(self) -> list[AgentMessage]:
        """Server messages, then the optimistic ones not yet echoed."""
        return [*self.messages, *self.optimistic.values()]

    def waiting_for_delivery(self) -> list[AgentMessage]:
        """User messages still withdrawable (queued), then the ones being sent."""
        return [m for m in self.messages if awaiting(m)] + list(self.optimistic.values())
