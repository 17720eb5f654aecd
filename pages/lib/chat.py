"""The chat in the sidebar: header, live thread, input — for ``activeChatRunId``.

``render_chat_sidebar`` runs on every full rerun of every page (dashboard.py
calls it before the page), so an open chat stays open across tab and page
switches. Only the live part, ``live_thread``, reruns every ``POLL_S``: it is
an ``st.fragment(run_every=...)``, so new messages appear within about a second
without a full-page rerun and without touching what the user is typing.

Where the messages come from (``OMAKASE_DASHBOARD_CHAT``):

* ``stream`` (default): one ``core.chat.AgentChat`` per session, for the open
  run only (closed when the chat closes or another opens). It follows the SSE
  stream in a background thread (the API fans one poller per run out to every
  viewer), sends optimistically (client id = server id, never shown twice,
  rolled back with the API's sentence) and applies receipt notices. Each tick
  copies its snapshot, only when its version changed.
* ``poll``: each tick asks for the messages after the last cursor (one cheap
  Query); sending draws the bubble, POSTs, then reruns the fragment.

Either way the tick also moves the read marker (clearing the agent's unread
badge), re-reads still-queued receipts now and then, and watches the run's
status (ended → input disabled, banner).

A small script (``SCROLL_HOOK``, installed once per page) keeps the thread at
the bottom unless the user scrolled up — then it shows "New messages ↓" — and
makes Escape press the close button.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import suppress
from dataclasses import dataclass
from html import escape

import streamlit as st

from core.agents import persona
from core.chat import AgentChat, ChatEndedError
from core.client import ApiClient, ApiError
from core.models import MAX_MESSAGE_CHARS, AgentRun, MessageSender, ReceiptState
from pages.lib.api import api_guard, get_client, show_error
from pages.lib.thread import (
    ENDED_TEXT,
    PendingMessage,
    ThreadState,
    empty_html,
    is_ended,
    message_html,
    pending_html,
    role_badge,
)

ACTIVE_KEY = "activeChatRunId"
THREAD_KEY = "oma_thread_state"
META_KEY = "oma_chat_meta"
#: Seconds between live refreshes of the open thread.
POLL_S = 1.0
#: Stream mode: seconds between re-reads of the run's status (the stream's close
#: event also says when it ended).
STATUS_REFRESH_S = 3.0
#: ``OMAKASE_DASHBOARD_CHAT``: ``stream`` (default, ``core.chat.AgentChat`` on SSE)
#: or ``poll`` (``GET …/messages?since=<cursor>`` every tick).
CHAT_MODE_ENV = "OMAKASE_DASHBOARD_CHAT"
STREAM_MODE = "stream"
POLL_MODE = "poll"
STREAM_KEY = "oma_agent_chat"
#: A session's chat stream nobody looked at for this long is closed (a closed tab).
CHAT_IDLE_CLOSE_S = 60.0
REAPER_INTERVAL_S = 10.0
#: Seconds between re-reads of the user messages whose receipt is still "queued".
RECEIPT_REFRESH_S = 4.0
#: Height of the scrolling thread, in pixels (the sidebar is ~400 px wide).
THREAD_HEIGHT_PX = 520

HIDDEN_SIDEBAR_CSS = (
    'section[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"] '
    "{ display: none !important; }"
)

SCROLL_HOOK = """
<script>
(function () {
  if (window.__omaChatHook) return;
  window.__omaChatHook = true;
  const doc = window.document;
  const btn = doc.createElement("button");
  btn.className = "oma-newmsg";
  btn.type = "button";
  btn.textContent = "New messages ↓";
  doc.body.appendChild(btn);
  // stick: follow the bottom (until the user scrolls up); lastId: newest message seen.
  let box = null, stick = true, lastId = null;
  function findBox() {
    let node = doc.querySelector(".st-key-oma_thread");
    for (let i = 0; node && i < 5; i++, node = node.parentElement) {
      const overflow = getComputedStyle(node).overflowY;
      if (overflow === "auto" || overflow === "scroll") return node;
    }
    return null;
  }
  function nearBottom() {
    return box.scrollHeight - box.scrollTop - box.clientHeight < 48;
  }
  function toBottom() {
    if (box) box.scrollTop = box.scrollHeight;
    stick = true;
    btn.classList.remove("oma-show");
  }
  btn.addEventListener("click", toBottom);
  function onScroll() {
    stick = nearBottom();
    if (stick) btn.classList.remove("oma-show");
  }
  setInterval(function () {
    const found = findBox();
    if (found !== box) {
      if (box) box.removeEventListener("scroll", onScroll);
      box = found; lastId = null; stick = true;
      if (box) box.addEventListener("scroll", onScroll);
    }
    if (!box) { btn.classList.remove("oma-show"); return; }
    const items = box.querySelectorAll("[data-id]");
    const last = items.length ? items[items.length - 1].getAttribute("data-id") : null;
    if (last !== lastId && lastId !== null && !stick) btn.classList.add("oma-show");
    lastId = last;
    if (stick && !nearBottom()) box.scrollTop = box.scrollHeight;
  }, 150);
  doc.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    // An open dropdown or popover takes Escape for itself.
    if (doc.querySelector('[data-baseweb="popover"], [role="dialog"]')) return;
    const close = doc.querySelector(".st-key-oma_chat_close button");
    if (close) { event.preventDefault(); close.click(); }
  }, true);
})();
</script>
"""


@dataclass(frozen=True, slots=True)
class ChatMeta:
    run_id: str
    agent_name: str
    mascot: str
    feature_name: str
    run: AgentRun


def open_chat(run_id: str) -> None:
    st.session_state[ACTIVE_KEY] = run_id


def close_chat() -> None:
    chat = st.session_state.pop(STREAM_KEY, None)
    if isinstance(chat, AgentChat):
        _reaper.forget(chat)
        chat.close()
    st.session_state.pop(ACTIVE_KEY, None)
    st.session_state.pop(THREAD_KEY, None)
    st.session_state.pop(META_KEY, None)


def active_run_id() -> str | None:
    value = st.session_state.get(ACTIVE_KEY)
    return str(value) if value else None


def thread_state(run_id: str) -> ThreadState:
    """The open chat's state; a different run replaces it (one thread per session)."""
    state = st.session_state.get(THREAD_KEY)
    if not isinstance(state, ThreadState) or state.run_id != run_id:
        state = ThreadState(run_id=run_id)
        st.session_state[THREAD_KEY] = state
    return state


def load_meta(client: ApiClient, run_id: str) -> ChatMeta:
    meta = st.session_state.get(META_KEY)
    if isinstance(meta, ChatMeta) and meta.run_id == run_id:
        return meta
    run = client.get_run(run_id)
    try:
        feature_name = client.get_feature(run.feature_id).name
    except ApiError:
        feature_name = "this feature"
    who = persona(run.role)
    meta = ChatMeta(run_id, who.name, who.mascot, feature_name, run)
    st.session_state[META_KEY] = meta
    return meta


def render_chat_sidebar() -> None:
    """The sidebar chat for ``activeChatRunId`` (nothing when no chat is open)."""
    run_id = active_run_id()
    if run_id is None:
        # No chat: no sidebar (Streamlit would keep an empty one after a close).
        st.html(f"<style>{HIDDEN_SIDEBAR_CSS}</style>")
        return
    client = get_client()
    with st.sidebar:
        try:
            meta = load_meta(client, run_id)
        except ApiError as error:
            show_error(error)
            st.button("Close chat", key="oma_chat_close", on_click=close_chat)
            return
        head, close = st.columns([6, 1], vertical_alignment="top")
        with head:
            st.html(
                '<div class="oma-chat-head">'
                f'<span class="oma-mascot">{meta.mascot}</span><div>'
                f'<div class="oma-chat-title">{escape(meta.agent_name)} '
                f"{role_badge(meta.run.role)}</div>"
                f'<div class="oma-chat-feature">{escape(meta.feature_name)} · step '
                f"{meta.run.step}</div></div></div>"
            )
        with close:
            st.button("✕", key="oma_chat_close", on_click=close_chat, help="Close (Esc)")
        live_thread(run_id)
        st.html(SCROLL_HOOK, unsafe_allow_javascript=True)


def chat_mode() -> str:
    """``stream`` (default): an ``AgentChat`` on the SSE stream; ``poll``: GET every tick."""
    mode = os.environ.get(CHAT_MODE_ENV, STREAM_MODE).strip().lower()
    return mode if mode in (STREAM_MODE, POLL_MODE) else STREAM_MODE


class ChatReaper:
    """Closes the ``AgentChat`` of a browser session that stopped looking at it.

    Streamlit has no "session ended" hook, and a chat's stream thread would
    otherwise outlive a closed tab until its run ends. Every tick touches its
    chat; a daemon thread closes chats untouched for ``CHAT_IDLE_CLOSE_S``. A
    session that comes back later simply opens a new one (resuming costs one
    replay of the thread).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[int, tuple[AgentChat, float]] = {}
        self._thread: threading.Thread | None = None

    def touch(self, chat: AgentChat, *, now: float | None = None) -> None:
        with self._lock:
            self._seen[id(chat)] = (chat, time.monotonic() if now is None else now)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="agent-chat reaper", daemon=True
                )
                self._thread.start()

    def forget(self, chat: AgentChat) -> None:
        with self._lock:
            self._seen.pop(id(chat), None)

    def reap(self, now: float) -> list[AgentChat]:
        """Close the chats untouched since ``now - CHAT_IDLE_CLOSE_S``; returns them."""
        cutoff = now - CHAT_IDLE_CLOSE_S
        with self._lock:
            idle = [chat for chat, seen in self._seen.values() if seen < cutoff]
            for chat in idle:
                self._seen.pop(id(chat), None)
        for chat in idle:
            chat.close()
        return idle

    def _run(self) -> None:
        while True:
            time.sleep(REAPER_INTERVAL_S)
            self.reap(time.monotonic())


_reaper = ChatReaper()


def agent_chat(client: ApiClient, run_id: str) -> AgentChat:
    """The session's ``AgentChat`` for ``run_id`` (another run's is closed first)."""
    current = st.session_state.get(STREAM_KEY)
    if isinstance(current, AgentChat):
        snap = current.snapshot()
        reaped = snap.stopped and not snap.ended
        if current.run_id == run_id and not reaped:
            _reaper.touch(current)
            return current
        _reaper.forget(current)
        current.close()
    chat = AgentChat(run_id, base_url=client.base_url, token=client.token)
    st.session_state[STREAM_KEY] = chat
    _reaper.touch(chat)
    return chat


def sync_from_chat(state: ThreadState, chat: AgentChat) -> bool:
    """Copy the chat's snapshot into the thread state; True when the stream stopped early."""
    snap = chat.snapshot()
    if snap.version != state.version:
        state.replace(
            [m for m in snap.messages if m.cursor],
            [PendingMessage(m.id, m.content, m.timestamp) for m in snap.messages if not m.cursor],
        )
        state.version = snap.version
        state.send_error = snap.error
    return snap.stopped and not snap.ended


def poll_messages(client: ApiClient, state: ThreadState) -> None:
    state.merge(client.list_messages(state.run_id, since=state.cursor))


def refresh(client: ApiClient, state: ThreadState, meta: ChatMeta) -> AgentRun:
    """One live tick: new messages, run status, stale receipts, read marker."""
    now = time.monotonic()
    if chat_mode() == STREAM_MODE:
        if sync_from_chat(state, agent_chat(client, state.run_id)):
            poll_messages(client, state)  # the stream gave up: keep the thread live anyway
        status_due = now - state.status_checked_at >= STATUS_REFRESH_S
    else:
        poll_messages(client, state)
        status_due = True
    run = meta.run
    if not is_ended(run) and status_due:
        run = client.get_run(state.run_id)
        state.status_checked_at = now
        if run.status != meta.run.status:
            st.session_state[META_KEY] = ChatMeta(
                meta.run_id, meta.agent_name, meta.mascot, meta.feature_name, run
            )
    waiting = any(
        m.sender is MessageSender.USER
        and (m.receipt is None or m.receipt.state is ReceiptState.QUEUED)
        for m in state.messages
    )
    if waiting and now - state.receipts_checked_at >= RECEIPT_REFRESH_S:
        state.merge(client.list_messages(state.run_id, sender=MessageSender.USER))
        state.receipts_checked_at = now
    marker = state.unread_after_marker()
    if marker is not None:
        state.read_cursor = marker
        # On failure the badge stays; the next cursor move tries again.
        with suppress(ApiError):
            client.mark_read(state.run_id, marker)
    return run


def send(client: ApiClient, state: ThreadState, content: str, message_id: str) -> None:
    """Poll mode: POST now (the bubble is already drawn); confirm or roll back."""
    try:
        state.merge([client.post_message(state.run_id, content, message_id=message_id)])
    except ApiError as error:
        state.rollback(message_id, error.detail)


def render_thread(state: ThreadState, meta: ChatMeta, *, ended: bool) -> None:
    hidden, shown = state.visible()
    if hidden:
        st.button(
            f"Load earlier ({hidden:,} more)",
            key="oma_load_earlier",
            on_click=state.load_earlier,
            type="tertiary",
        )
    for message in shown:
        st.html(message_html(message))
    for pending in state.pending:
        st.html(pending_html(pending))
    if not state.has_conversation() and not ended:
        st.html(empty_html(meta.agent_name, meta.feature_name))


@st.fragment(run_every=POLL_S)
def live_thread(run_id: str) -> None:
    client = get_client()
    state = thread_state(run_id)
    meta = load_meta(client, run_id)
    with api_guard():
        run = refresh(client, state, meta)
    ended = is_ended(run)
    thread = st.container(height=THREAD_HEIGHT_PX, key="oma_thread", autoscroll=False)
    notice = st.empty()
    if ended:
        st.html(f'<div class="oma-ended">{ENDED_TEXT}</div>')
    # Sent from the submit callback, not from the value chat_input returns: a
    # callback runs once per submission, while a script run interrupted by the
    # fragment's timer is replayed with the same returned value, which sent one
    # message twice (with two client ids) — a regression test covers it.
    st.chat_input(
        f"Message {meta.agent_name}…",
        key=input_key(run_id),
        disabled=ended,
        max_chars=MAX_MESSAGE_CHARS,
        on_submit=submit_typed,
        args=(run_id,),
    )
    if state.send_error:
        notice.error(state.send_error, icon="⚠️")
    with thread:
        render_thread(state, meta, ended=ended)


def input_key(run_id: str) -> str:
    return f"oma_chat_input_{run_id}"


def submit_typed(run_id: str) -> None:
    """``on_submit`` of the chat input: send what was typed, exactly once."""
    typed = st.session_state.get(input_key(run_id))
    if not isinstance(typed, str) or not typed.strip():
        return
    client = get_client()
    state = thread_state(run_id)
    if chat_mode() == STREAM_MODE:
        chat = agent_chat(client, run_id)
        try:
            chat.send_message(typed)  # optimistic at once; POSTed in the background
        except (ValueError, ChatEndedError) as error:
            state.send_error = str(error)
        sync_from_chat(state, chat)
    else:
        posting = state.add_pending(typed.strip())
        send(client, state, posting.content, posting.id)
