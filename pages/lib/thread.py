"""The chat thread's state and HTML, free of Streamlit (unit-tested, benchmarked).

``ThreadState`` holds what the sidebar shows for one run: the server's messages
in cursor order, the optimistic (not yet confirmed) user messages, and the
render window. Merging is keyed by message id, and a user message's client id
*is* its server id, so an optimistic bubble is replaced by its server copy,
never shown twice, whichever arrives first (the POST answer or the next poll).

Every piece of message content goes through ``html.escape``: content is
untrusted text and is never interpreted as HTML or markdown.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from html import escape

from core.agents import persona
from core.models import (
    AgentMessage,
    AgentRun,
    AgentRunRole,
    DeliveryReceipt,
    MessageSender,
    MessageType,
    ReceiptState,
    iso,
    utc_now,
)

#: Messages rendered at first; "load earlier" adds ``WINDOW_STEP`` more.
DEFAULT_WINDOW = 60
WINDOW_STEP = 100
#: Prefix of the client ids the dashboard generates.
CLIENT_ID_PREFIX = "web-"
USER_ICON = "👤"
ENDED_TEXT = "This conversation has ended"

ROLE_TOKENS: dict[AgentRunRole, str] = {role: persona(role).badge_token for role in AgentRunRole}


def new_client_id() -> str:
    return f"{CLIENT_ID_PREFIX}{uuid.uuid4().hex}"


@dataclass(slots=True)
class PendingMessage:
    """A user message shown at once, before the API confirmed it."""

    id: str
    content: str
    timestamp: str


@dataclass
class ThreadState:
    run_id: str
    messages: list[AgentMessage] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)
    pending: list[PendingMessage] = field(default_factory=list)
    window: int = DEFAULT_WINDOW
    #: The last refusal of a send, shown above the input until the next send.
    send_error: str | None = None
    #: The read marker this dashboard last sent (avoids re-sending it every tick).
    read_cursor: str | None = None
    #: ``time.monotonic()`` of the last re-read of still-queued receipts.
    receipts_checked_at: float = 0.0
    #: ``time.monotonic()`` of the last re-read of the run's status.
    status_checked_at: float = 0.0
    #: Receipts learnt by re-reading user messages (kept across ``replace``).
    receipts: dict[str, DeliveryReceipt] = field(default_factory=dict)
    #: The version of the chat snapshot last copied in (stream mode).
    version: int = -1

    @property
    def cursor(self) -> str | None:
        return self.messages[-1].cursor if self.messages else None

    def merge(self, incoming: Iterable[AgentMessage]) -> int:
        """Add or update server messages; returns how many were new."""
        added = 0
        for message in incoming:
            at = self.index.get(message.id)
            if message.receipt is not None and message.receipt.state is not ReceiptState.QUEUED:
                self.receipts[message.id] = message.receipt
            if at is not None:
                self.messages[at] = self._with_known_receipt(message)
                continue
            if self.messages and message.cursor < self.messages[-1].cursor:
                # Out of order (a refetch): insert at its place and reindex.
                self.messages.append(message)
                self.messages.sort(key=lambda m: m.cursor)
                self.index = {m.id: i for i, m in enumerate(self.messages)}
            else:
                self.index[message.id] = len(self.messages)
                self.messages.append(message)
            added += 1
            self._apply_receipt_notice(message)
        if self.pending:
            self.pending = [p for p in self.pending if p.id not in self.index]
        return added

    def replace(self, messages: list[AgentMessage], pending: list[PendingMessage]) -> None:
        """Take a whole thread (a chat client's snapshot), keeping receipts learnt here."""
        self.messages = [self._with_known_receipt(m) for m in messages]
        self.index = {m.id: i for i, m in enumerate(self.messages)}
        self.pending = [p for p in pending if p.id not in self.index]

    def _with_known_receipt(self, message: AgentMessage) -> AgentMessage:
        known = self.receipts.get(message.id)
        if known is None or (
            message.receipt is not None and message.receipt.state is not ReceiptState.QUEUED
        ):
            return message
        return message.model_copy(update={"receipt": known})

    def _apply_receipt_notice(self, notice: AgentMessage) -> None:
        target = self.index.get(notice.receipt_for or "")
        if target is None or notice.receipt is None:
            return
        self.messages[target] = self.messages[target].model_copy(update={"receipt": notice.receipt})

    def add_pending(self, content: str, *, message_id: str | None = None) -> PendingMessage:
        pending = PendingMessage(
            id=message_id or new_client_id(), content=content, timestamp=iso(utc_now())
        )
        self.pending.append(pending)
        self.send_error = None
        return pending

    def rollback(self, message_id: str, detail: str) -> None:
        """The API refused the message: remove its bubble and say why."""
        removed = [p for p in self.pending if p.id == message_id]
        self.pending = [p for p in self.pending if p.id != message_id]
        shown = removed[0].content if removed else ""
        preview = shown if len(shown) <= 60 else shown[:57] + "…"
        self.send_error = f'Not sent: "{preview}" — {detail}'

    def has_conversation(self) -> bool:
        """A user or agent message exists (status notices don't count)."""
        return bool(self.pending) or any(m.type is MessageType.MESSAGE for m in self.messages)

    def visible(self) -> tuple[int, list[AgentMessage]]:
        """(hidden earlier count, the last ``window`` messages)."""
        hidden = max(0, len(self.messages) - self.window)
        return hidden, self.messages[hidden:]

    def load_earlier(self) -> None:
        self.window += WINDOW_STEP

    def unread_after_marker(self) -> str | None:
        """The cursor to PUT as read marker, if it moved since the last PUT."""
        last = self.cursor
        if last is not None and (self.read_cursor is None or last > self.read_cursor):
            return last
        return None


# --- HTML --------------------------------------------------------------------------


def clock(timestamp: str) -> str:
    """``HH:MM:SS`` (UTC) of an ISO timestamp; the raw text when it is not one."""
    return timestamp[11:19] if len(timestamp) >= 19 and timestamp[10] == "T" else timestamp


def role_badge(role: AgentRunRole | None) -> str:
    if role is None:
        return ""
    token = ROLE_TOKENS[role]
    return f'<span class="oma-badge" style="--tone: var(--{token})">{escape(role.value)}</span>'


def receipt_text(receipt: DeliveryReceipt | None) -> str:
    """The small muted line under a user message."""
    if receipt is None or receipt.state is ReceiptState.QUEUED:
        return "queued"
    if receipt.state is ReceiptState.DELIVERED:
        where = f"step {receipt.step}" if receipt.step is not None else "the agent"
        if receipt.role is not None:
            where += f" ({persona(receipt.role).name}, {receipt.role.value})"
        return f"delivered to {where}"
    return f"not delivered: {receipt.reason or 'no later step could receive it'}"


def message_html(message: AgentMessage) -> str:
    content = escape(message.content)
    when = escape(clock(message.timestamp))
    if message.type is MessageType.STATUS:
        return f'<div class="oma-status" data-id="{escape(message.id)}">{content} · {when}</div>'
    error = " oma-error-msg" if message.type is MessageType.ERROR else ""
    if message.sender is MessageSender.USER:
        state = message.receipt.state.value if message.receipt else "queued"
        return (
            f'<div class="oma-msg oma-msg-user{error}" data-id="{escape(message.id)}">'
            f'<div class="oma-avatar">{USER_ICON}</div><div class="oma-msg-body">'
            f'<div class="oma-msg-meta"><span class="oma-msg-name">You</span>{when}</div>'
            f'<div class="oma-bubble">{content}</div>'
            f'<div class="oma-receipt oma-receipt-{state}">{escape(receipt_text(message.receipt))}'
            "</div></div></div>"
        )
    role = message.role
    who = persona(role) if role is not None else None
    mascot = who.mascot if who else "🤖"
    name = escape(who.name) if who else "Agent"
    return (
        f'<div class="oma-msg oma-msg-agent{error}" data-id="{escape(message.id)}">'
        f'<div class="oma-avatar">{mascot}</div><div class="oma-msg-body">'
        f'<div class="oma-msg-meta"><span class="oma-msg-name">{name}</span>'
        f"{role_badge(role)}{when}</div>"
        f'<div class="oma-bubble">{content}</div></div></div>'
    )


def pending_html(pending: PendingMessage) -> str:
    return (
        f'<div class="oma-msg oma-msg-user oma-msg-pending" data-id="{escape(pending.id)}">'
        f'<div class="oma-avatar">{USER_ICON}</div><div class="oma-msg-body">'
        f'<div class="oma-msg-meta"><span class="oma-msg-name">You</span>'
        f"{escape(clock(pending.timestamp))}</div>"
        f'<div class="oma-bubble">{escape(pending.content)}</div>'
        '<div class="oma-receipt">sending…</div></div></div>'
    )


def empty_text(agent_name: str, feature_name: str) -> str:
    return f"Send a message to {agent_name} while they work on {feature_name}"


def empty_html(agent_name: str, feature_name: str) -> str:
    return f'<div class="oma-empty">{escape(empty_text(agent_name, feature_name))}</div>'


def is_ended(run: AgentRun) -> bool:
    return run.status.is_terminal
