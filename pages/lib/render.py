"""The conversation's HTML, free of Streamlit (unit-tested, benchmarked).

Message content is untrusted. A person's own message and every notice go
through ``html.escape`` (plain text); an agent's message or question is
Markdown rendered by ``pages.lib.markdown`` (no raw HTML, safe links, no
image loaded). ``blocks`` turns a window of the conversation into HTML blocks
with a step divider wherever the speaking run changes (``divider_html``, the
one place a divider is drawn), and hands back the pieces that need real
buttons — the open question, each queued message (Withdraw / Edit on its
bubble) — so the Streamlit side draws them. Receipt notices ("📨 Sent to …",
"📬 Delivered to …") are not drawn: the bubble's receipt already says it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

from core.agents import persona
from core.chat_state import awaiting
from core.models import (
    AgentMessage,
    AgentRun,
    AgentRunRole,
    AgentRunStatus,
    DeliveryChannel,
    DeliveryMode,
    DeliveryReceipt,
    MessageSender,
    MessageType,
    ReceiptState,
)
from pages.lib.diff_view import commit_suffix, step_change_html
from pages.lib.markdown import markdown_html

USER_ICON = "👤"
ENDED_TEXT = "This conversation has ended"
ROLE_TOKENS: dict[AgentRunRole, str] = {role: persona(role).badge_token for role in AgentRunRole}
#: How each delivery channel reads in a receipt.
CHANNEL_WORDS: dict[str, str] = {
    DeliveryChannel.LIVE.value: "live",
    DeliveryChannel.RELAY.value: "next step",
    DeliveryChannel.INBOX.value: "inbox",
    DeliveryChannel.MCP.value: "MCP",
}
MODE_WORDS: dict[DeliveryMode, str] = {
    DeliveryMode.STEER: "send",
    DeliveryMode.INTERRUPT: "steer now",
    DeliveryMode.QUEUE: "next step",
}


def clock(timestamp: str) -> str:
    """``HH:MM:SS`` (UTC) of an ISO timestamp; the raw text when it is not one."""
    return timestamp[11:19] if len(timestamp) >= 19 and timestamp[10] == "T" else timestamp


def role_badge(role: AgentRunRole | None) -> str:
    if role is None:
        return ""
    token = ROLE_TOKENS[role]
    return f'<span class="oma-badge" style="--tone: var(--{token})">{escape(role.value)}</span>'


def divider_html(run_id: str, run: AgentRun | None, role: AgentRunRole | None) -> str:
    """A step divider; its text reads ``Step 3 · Koji 🍶 reviewer``."""
    role = run.role if run is not None else role
    label = escape(f"Step {run.step}" if run is not None else "Step ?")
    if role is not None:
        who = persona(role)
        label += f" · {escape(who.name)} {who.mascot} {role_badge(role)}"
    if run is not None and run.attempt > 1:
        label += " · retry"
    if run is not None:
        label += step_change_html(run)  # issue #17: the step's commit, a link to its diff
    return (
        f'<div class="oma-step" data-run="{escape(run_id)}"><span class="oma-step-line"></span>'
        f'<span class="oma-step-label">{label}</span><span class="oma-step-line"></span></div>'
    )


def where(receipt: DeliveryReceipt) -> str:
    if receipt.step is None:
        return "the agent"
    text = f"step {receipt.step}"
    if receipt.role is not None:
        text += f" · {persona(receipt.role).name} ({receipt.role.value})"
    return text


def held_for_next_step(message: AgentMessage, run: AgentRun | None) -> bool:
    """Queued on purpose: ``queue`` asked of a live step, or held between steps.

    (A step that is not live stores every message as ``queue`` and still hands it
    to its agent's inbox mid-step, so there "queued" says more than "next step".)
    """
    if message.mode is not DeliveryMode.QUEUE:
        return False
    return run is None or run.live or not run.is_active


def receipt_text(receipt: DeliveryReceipt | None, *, next_step: bool = False) -> str:
    """The small muted line under a user message: which step got it, and how."""
    if receipt is None or receipt.state is ReceiptState.QUEUED:
        return "queued for the next step" if next_step else "queued"
    channel = CHANNEL_WORDS.get(receipt.channel or "", receipt.channel or "")
    how = f" · {channel}" if channel else ""
    if receipt.state is ReceiptState.SENT:
        return f"sent to {where(receipt)}{how}, waiting for the agent to take it"
    if receipt.state is ReceiptState.DELIVERED:
        return f"delivered to {where(receipt)}{how}"
    if receipt.state is ReceiptState.WITHDRAWN:
        return "withdrawn: no agent got it"
    return f"not delivered: {receipt.reason or 'no later step could receive it'}"


def user_html(message: AgentMessage, *, sending: bool = False, run: AgentRun | None = None) -> str:
    state = "sending" if sending else (message.receipt.state.value if message.receipt else "queued")
    extra = " oma-msg-pending" if sending else ""
    extra += " oma-msg-withdrawn" if state == ReceiptState.WITHDRAWN.value else ""
    next_step = held_for_next_step(message, run)
    receipt = "sending…" if sending else receipt_text(message.receipt, next_step=next_step)
    receipt += commit_suffix(message.receipt)  # issue #17: the commit it went into
    waiting = message.receipt is None or message.receipt.state is ReceiptState.QUEUED
    chosen = message.mode is DeliveryMode.INTERRUPT or next_step
    mode = (
        f'<span class="oma-mode">{escape(MODE_WORDS[message.mode])}</span>'
        if message.mode is not None and chosen and waiting
        else ""
    )
    return (
        f'<div class="oma-msg oma-msg-user{extra}" data-id="{escape(message.id)}">'
        f'<div class="oma-avatar">{USER_ICON}</div><div class="oma-msg-body">'
        f'<div class="oma-msg-meta"><span class="oma-msg-name">You</span>{mode}'
        f"{escape(clock(message.timestamp))}</div>"
        f'<div class="oma-bubble">{escape(message.content)}</div>'
        f'<div class="oma-receipt oma-receipt-{state}">{escape(receipt)}</div></div></div>'
    )


def agent_html(message: AgentMessage, *, open_question: bool = False) -> str:
    role = message.role
    who = persona(role) if role is not None else None
    mascot = who.mascot if who else "🤖"
    name = escape(who.name) if who else "Agent"
    kind = ""
    label = ""
    if message.type is MessageType.ERROR:
        kind = " oma-error-msg"
    elif message.type is MessageType.QUESTION:
        kind = " oma-question" + (" oma-question-open" if open_question else "")
        label = '<span class="oma-question-tag">asks you</span>'
    options = ""
    if message.type is MessageType.QUESTION and message.options and not open_question:
        options = '<div class="oma-options">' + "".join(
            f'<span class="oma-option">{escape(option)}</span>' for option in message.options
        )
        options += "</div>"
    return (
        f'<div class="oma-msg oma-msg-agent{kind}" data-id="{escape(message.id)}">'
        f'<div class="oma-avatar">{mascot}</div><div class="oma-msg-body">'
        f'<div class="oma-msg-meta"><span class="oma-msg-name">{name}</span>'
        f"{role_badge(role)}{label}{escape(clock(message.timestamp))}</div>"
        f'<div class="oma-bubble oma-md">{markdown_html(message.content)}</div>'
        f"{options}</div></div>"
    )


def message_html(
    message: AgentMessage,
    *,
    sending: bool = False,
    open_question: bool = False,
    run: AgentRun | None = None,
) -> str:
    if message.type is MessageType.STATUS:
        return (
            f'<div class="oma-status" data-id="{escape(message.id)}">{escape(message.content)}'
            f" · {escape(clock(message.timestamp))}</div>"
        )
    if message.sender is MessageSender.USER:
        return user_html(message, sending=sending, run=run)
    return agent_html(message, open_question=open_question)


def open_question(
    messages: Sequence[AgentMessage], runs: Mapping[str, AgentRun]
) -> AgentMessage | None:
    """The last question, while its run waits and nobody answered it (it gets buttons)."""
    for at in range(len(messages) - 1, -1, -1):
        asked = messages[at]
        if asked.type is not MessageType.QUESTION:
            continue
        run = runs.get(asked.run_id)
        if run is None or run.status is not AgentRunStatus.WAITING:
            return None
        answered = any(
            later.sender is MessageSender.USER and later.run_id in (asked.run_id, "")
            for later in messages[at + 1 :]
        )
        return None if answered else asked
    return None


def is_receipt_notice(message: AgentMessage) -> bool:
    """A notice that only carries another message's receipt: the bubble shows it instead."""
    return message.type is MessageType.STATUS and message.receipt_for is not None


def thread_messages(messages: Sequence[AgentMessage]) -> list[AgentMessage]:
    """What the thread draws: every message but the receipt notices (one copy of each)."""
    return [m for m in messages if not is_receipt_notice(m)]


def withdrawable(message: AgentMessage, pending_ids: frozenset[str]) -> bool:
    """A stored message still queued: its bubble carries Withdraw and Edit."""
    return message.id not in pending_ids and bool(message.cursor) and awaiting(message)


@dataclass(frozen=True, slots=True)
class Block:
    """HTML, or a message drawn with real buttons: the open question, or a queued message."""

    html: str = ""
    question: AgentMessage | None = None
    pending: AgentMessage | None = None


def blocks(
    messages: Sequence[AgentMessage],
    runs: Mapping[str, AgentRun],
    *,
    pending_ids: frozenset[str] = frozenset(),
    question: AgentMessage | None = None,
    current_run_id: str | None = None,
) -> list[Block]:
    """HTML of a window of the conversation, a step divider before each run's first message."""
    out: list[Block] = []
    parts: list[str] = []
    last_run: str | None = None

    def flush() -> None:
        if parts:
            out.append(Block(html="".join(parts)))
            parts.clear()

    for message in messages:
        if is_receipt_notice(message):
            continue
        sending = message.id in pending_ids
        if not sending and message.run_id and message.run_id != last_run:
            parts.append(divider_html(message.run_id, runs.get(message.run_id), message.role))
            last_run = message.run_id
        if message is question:
            flush()
            out.append(Block(question=message))
        elif withdrawable(message, pending_ids):
            flush()
            out.append(Block(pending=message))
        else:
            parts.append(message_html(message, sending=sending, run=runs.get(message.run_id)))
    spoken = {m.run_id for m in messages}
    if current_run_id is not None and current_run_id not in spoken and current_run_id in runs:
        # A step that has started but not spoken yet still gets its divider.
        parts.append(divider_html(current_run_id, runs[current_run_id], None))
    flush()
    return out


def empty_html(agent_name: str, feature_name: str) -> str:
    text = f"Send a message to {agent_name} while they work on {feature_name}"
    return f'<div class="oma-empty">{escape(text)}</div>'
