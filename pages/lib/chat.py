"""The sidebar chat: one feature's whole conversation, across its pipeline steps.

``render_chat_sidebar`` runs on every full rerun of every page (dashboard.py
calls it before the page), so an open conversation stays open across tab and
page switches. Only ``live_conversation`` reruns every ``TICK_S``: an
``st.fragment(run_every=...)``, so new messages appear without a full rerun and
without touching what the user is typing.

There is one state: the session's ``FeatureChat`` (chat_session.py) follows the
feature's SSE stream and keeps a ``core.chat_state.Conversation``; each tick
renders its snapshot with ``render_conversation`` — the one rendering function —
and moves the read markers. Sends are optimistic (the echo replaces them).
The scroll keeper and the Escape key live in ``static/chat.js``.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

import streamlit as st

from core.agents import next_step, persona
from core.chat_wire import ChatEndedError, ChatSnapshot
from core.client import ApiClient, ApiError
from core.models import MAX_MESSAGE_CHARS, AgentRun, DeliveryMode, MessageType
from pages.lib.api import api_guard, get_client, show_error
from pages.lib.chat_session import (
    FeatureView,
    LiveChat,
    active_feature_id,
    close_chat,
    feature_view,
    load_earlier,
    replayed,
    session_chat,
    window,
)
from pages.lib.metrics import feature_elapsed, format_duration, spend_text
from pages.lib.pending import pending_bubble
from pages.lib.render import (
    ENDED_TEXT,
    blocks,
    empty_html,
    message_html,
    open_question,
    role_badge,
    thread_messages,
)
from pages.lib.ui import feature_badge

#: Seconds between live refreshes of the open conversation.
TICK_S = 1.0
#: Height of the scrolling thread, in pixels (the sidebar is ~400 px wide).
THREAD_HEIGHT_PX = 500
READ_KEY = "oma_read_markers"
READ_VERSION_KEY = "oma_read_version"
MODE_KEY = "oma_chat_mode"
SCRIPT = Path(__file__).resolve().parents[2] / "static" / "chat.js"
#: The choices a live step offers, and the mode each one sends.
LIVE_CHOICES: dict[str, DeliveryMode] = {
    "Send": DeliveryMode.STEER,
    "Steer now": DeliveryMode.INTERRUPT,
    "Next step": DeliveryMode.QUEUE,
}
HIDDEN_SIDEBAR_CSS = (
    'section[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"] '
    "{ display: none !important; }"
)


def render_chat_sidebar() -> None:
    """The sidebar conversation for ``activeChatFeatureId`` (nothing when none is open)."""
    feature_id = active_feature_id()
    if feature_id is None:
        st.html(f"<style>{HIDDEN_SIDEBAR_CSS}</style>")
        return
    client = get_client()
    with st.sidebar:
        try:
            feature_view(client, feature_id, force=True)
        except ApiError as error:
            show_error(error)
            st.button("Close chat", key="oma_chat_close", on_click=close_chat)
            return
        live_conversation(feature_id)
        st.html(f"<script>{SCRIPT.read_text()}</script>", unsafe_allow_javascript=True)


def header_html(view: FeatureView) -> str:
    feature = view.feature
    run = view.latest
    if run is not None:
        who = persona(run.role)
        doing = f"Step {run.step} · {escape(who.name)} {who.mascot} {role_badge(run.role)}"
        doing += f" · {escape(run.status.value)}" if run.is_active else " · between steps"
    else:
        doing = "No step has started yet"
    spent = spend_text(view.runs.values())
    facts = f"{format_duration(feature_elapsed(view.runs.values()))} working"
    if spent is not None:
        facts += f" · {spent} so far"
    return (
        '<div class="oma-chat-head"><span class="oma-mascot">🍱</span><div>'
        f'<div class="oma-chat-title">{escape(feature.name)} {feature_badge(feature.status)}</div>'
        f'<div class="oma-chat-feature">{doing}</div>'
        f'<div class="oma-chat-facts">{escape(facts)}</div></div></div>'
    )


def mark_read(client: ApiClient, snap: ChatSnapshot) -> None:
    """Move each run's read marker to its newest message seen here (clears unread badges)."""
    if st.session_state.get(READ_VERSION_KEY) == snap.version:
        return  # nothing new since the last tick
    sent: dict[str, str] = st.session_state.setdefault(READ_KEY, {})
    newest: dict[str, str] = {}
    for message in snap.messages:
        if message.cursor and message.cursor > newest.get(message.run_id, ""):
            newest[message.run_id] = message.cursor
    for run_id, cursor in newest.items():
        if cursor > sent.get(run_id, ""):
            try:
                client.mark_read(run_id, cursor)
            except ApiError:
                return  # the badge stays; the next tick tries again
            sent[run_id] = cursor
    st.session_state[READ_VERSION_KEY] = snap.version


def render_conversation(snap: ChatSnapshot, view: FeatureView, chat: LiveChat) -> None:
    """The one rendering function: dividers, messages, receipts, the open question.

    Each message once: receipt notices are left out (the bubble's receipt says
    it) and a queued message carries its Withdraw and Edit on its own bubble.
    """
    messages = thread_messages(snap.messages)
    shown = messages[-window() :]
    hidden = len(messages) - len(shown)
    if hidden:
        st.button(
            f"Load earlier ({hidden:,} more)",
            key="oma_load_earlier",
            on_click=load_earlier,
            type="tertiary",
        )
    question = open_question(messages, view.runs)
    current = view.current
    ended = view.ended or snap.ended
    mode = send_mode(view)
    for block in blocks(
        shown,
        view.runs,
        pending_ids=snap.pending_ids,
        question=question,
        current_run_id=current.id if current else None,
    ):
        if block.pending is not None:
            run = view.runs.get(block.pending.run_id)
            if ended:
                st.html(message_html(block.pending, run=run))
            else:
                pending_bubble(block.pending, chat, mode, run)
            continue
        if block.question is None:
            st.html(block.html)
            continue
        asked = block.question
        st.html(message_html(asked, open_question=True))
        for n, option in enumerate(asked.options or []):
            st.button(
                option,
                key=f"oma_answer_{asked.id}_{n}",
                on_click=answer,
                args=(chat, option),
                type="secondary",
            )
    has_words = any(m.type is not MessageType.STATUS for m in snap.messages)
    if not has_words and not view.ended:
        agent = persona(current.role).name if current else "the team"
        st.html(empty_html(agent, view.feature.name))


def answer(chat: LiveChat, option: str) -> None:
    """A click on a question's option: the option's text is the person's answer."""
    if replayed(f"answer {chat.feature_id} {option}"):
        return
    try:
        chat.send_message(option)
    except (ValueError, ChatEndedError) as error:
        st.session_state["oma_chat_problem"] = str(error)


def choices(run: AgentRun) -> dict[str, DeliveryMode]:
    """The picker's choices while ``run`` runs: "Steer now" only where a turn can be cut short."""
    if run.live:
        return LIVE_CHOICES
    return {k: mode for k, mode in LIVE_CHOICES.items() if mode is not DeliveryMode.INTERRUPT}


def send_mode(view: FeatureView) -> DeliveryMode:
    """What the input sends: the picker's choice while a step runs, queue between steps."""
    current = view.current
    if current is None:
        return DeliveryMode.QUEUE
    offered = choices(current)
    choice = str(st.session_state.get(MODE_KEY) or "Send")
    return offered.get(choice, DeliveryMode.STEER)


@st.fragment(run_every=TICK_S)
def live_conversation(feature_id: str) -> None:
    if active_feature_id() != feature_id:
        # Closed (✕ or Escape) or another feature opened: the callback ran inside this
        # fragment, so only a full rerun redraws the page without (or with the new) chat.
        st.rerun()
    client = get_client()
    with api_guard():
        view = feature_view(client, feature_id)
    chat = session_chat(client, feature_id)
    snap = chat.snapshot()
    if any(m.run_id and m.run_id not in view.runs for m in snap.messages[-window() :]):
        with api_guard():  # a step started since the last read: its divider needs it
            view = feature_view(client, feature_id, force=True)
    mark_read(client, snap)
    ended = view.ended or snap.ended
    head, close = st.columns([6, 1], vertical_alignment="top")
    head.html(header_html(view))
    close.button("✕", key="oma_chat_close", on_click=close_chat, help="Close (Esc)")
    thread = st.container(height=THREAD_HEIGHT_PX, key="oma_thread", autoscroll=False)
    with thread:
        render_conversation(snap, view, chat)
    problem = snap.error or st.session_state.pop("oma_chat_problem", None)
    if problem:
        st.error(problem, icon="⚠️")
    if ended:
        # Nothing to type into: an ended conversation is read-only, so no input at all.
        st.html(f'<div class="oma-ended">{ENDED_TEXT}</div>')
        return
    mode_picker(view)
    # Sent from the submit callback, not from the value chat_input returns: a
    # callback runs once per submission, while a script run interrupted by the
    # fragment's timer is replayed with the same returned value, which sent one
    # message twice (with two client ids) — a regression test covers it.
    st.chat_input(
        placeholder(view),
        key=input_key(feature_id),
        max_chars=MAX_MESSAGE_CHARS,
        on_submit=submit_typed,
        args=(feature_id,),
    )


def mode_picker(view: FeatureView) -> None:
    """While a step runs: how the next message goes; between steps: where it goes."""
    current = view.current
    if current is not None:
        st.segmented_control(
            "Delivery",
            list(choices(current)),
            default="Send",
            key=MODE_KEY,
            label_visibility="collapsed",
            help=(
                "Send: at the agent's next tool boundary · Steer now: stop its turn first · "
                "Next step: hold it for the next step"
                if current.live
                else "Send: into the agent's inbox during its step · "
                "Next step: hold it for the next step"
            ),
        )
        return
    following = next_step(view.latest)
    where = f"the {following[0].value}, step {following[1]}" if following else "the next step"
    st.caption(f"Between steps: your message goes to {where}.")


def placeholder(view: FeatureView) -> str:
    """Where a message will go: the running agent, or the step that runs next."""
    current = view.current
    if current is not None:
        return f"Message {persona(current.role).name}…"
    following = next_step(view.latest)
    if following is None:
        return "Message the next step…"
    role, step = following
    return f"Message for the {role.value}, step {step}…"


def input_key(feature_id: str) -> str:
    return f"oma_chat_input_{feature_id}"


def submit_typed(feature_id: str) -> None:
    """``on_submit`` of the chat input: send what was typed, exactly once."""
    typed = st.session_state.get(input_key(feature_id))
    if not isinstance(typed, str) or not typed.strip() or replayed(f"send {feature_id} {typed}"):
        return
    client = get_client()
    chat = session_chat(client, feature_id)
    try:
        chat.send_message(typed, mode=send_mode(feature_view(client, feature_id)))
    except (ValueError, ChatEndedError) as error:
        st.session_state["oma_chat_problem"] = str(error)
