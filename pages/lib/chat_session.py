"""Which conversation the sidebar shows, its live feed, and what it knows about the feature.

One open conversation per browser session: ``activeChatFeatureId`` names the
feature; ``session_chat`` holds the one ``FeatureChat`` (the client's
``open_feature_chat``: the real SSE client, or a test's fake) and closes the
previous one. ``ChatReaper`` closes the feed of a tab nobody looks at any more
(Streamlit has no "session ended" hook). ``FeatureView`` is the feature and its
runs, re-read every ``VIEW_REFRESH_S`` (step dividers, live/waiting, cost).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Protocol

import streamlit as st

from core.chat_wire import ChatSnapshot
from core.client import ApiClient
from core.models import AgentRun, DeliveryMode, Feature, FeatureStatus

ACTIVE_KEY = "activeChatFeatureId"
CHAT_KEY = "oma_feature_chat"
VIEW_KEY = "oma_feature_view"
WINDOW_KEY = "oma_chat_window"
#: Seconds between re-reads of the feature and its runs while the chat is open.
VIEW_REFRESH_S = 2.0
#: A session's chat feed nobody looked at for this long is closed (a closed tab).
CHAT_IDLE_CLOSE_S = 60.0
REAPER_INTERVAL_S = 10.0
#: Messages rendered at first; "load earlier" adds ``WINDOW_STEP`` more.
DEFAULT_WINDOW = 60
WINDOW_STEP = 100


class LiveChat(Protocol):
    """What the sidebar needs of a feed (``core.chat.FeatureChat`` or a test's fake)."""

    feature_id: str

    def snapshot(self) -> ChatSnapshot: ...

    def send_message(self, content: str, *, mode: DeliveryMode | None = None) -> str: ...

    def withdraw(self, run_id: str, message_id: str) -> bool: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class FeatureView:
    feature: Feature
    #: The feature's runs by id, and the order they started in.
    runs: dict[str, AgentRun]
    read_at: float

    @property
    def current(self) -> AgentRun | None:
        run = self.runs.get(self.feature.current_run_id or "")
        if run is not None and run.is_active:
            return run
        active = [r for r in self.runs.values() if r.is_active]
        return active[-1] if active else None

    @property
    def latest(self) -> AgentRun | None:
        return self.current or (list(self.runs.values())[-1] if self.runs else None)

    @property
    def ended(self) -> bool:
        done = self.feature.status in (FeatureStatus.PASSING, FeatureStatus.FAILING)
        return done and self.current is None


#: A callback repeating the same action this soon is Streamlit replaying a trigger, not
#: a person: a fragment run interrupted by its own timer (``run_every``) is rerun with
#: the interrupted run's trigger values, and their callbacks fire again.
REPLAY_GUARD_S = 2.0
DONE_KEY = "oma_done_actions"


def replayed(action: str) -> bool:
    """True when ``action`` (e.g. a send with its text) already ran moments ago."""
    done: dict[str, float] = st.session_state.setdefault(DONE_KEY, {})
    now = time.monotonic()
    for key in [k for k, at in done.items() if now - at >= REPLAY_GUARD_S]:
        del done[key]
    if action in done:
        return True
    done[action] = now
    return False


def open_chat(feature_id: str) -> None:
    st.session_state[ACTIVE_KEY] = feature_id


def active_feature_id() -> str | None:
    value = st.session_state.get(ACTIVE_KEY)
    return str(value) if value else None


def close_chat() -> None:
    chat = st.session_state.pop(CHAT_KEY, None)
    if chat is not None:
        reaper.forget(chat)
        chat.close()
    for key in (ACTIVE_KEY, VIEW_KEY, WINDOW_KEY):
        st.session_state.pop(key, None)


class ChatReaper:
    """Closes the feeds of browser sessions that stopped looking at them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[int, tuple[LiveChat, float]] = {}
        self._thread: threading.Thread | None = None

    def touch(self, chat: LiveChat, *, now: float | None = None) -> None:
        with self._lock:
            self._seen[id(chat)] = (chat, time.monotonic() if now is None else now)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="chat reaper", daemon=True)
                self._thread.start()

    def forget(self, chat: LiveChat) -> None:
        with self._lock:
            self._seen.pop(id(chat), None)

    def reap(self, now: float) -> list[LiveChat]:
        """Close the feeds untouched since ``now - CHAT_IDLE_CLOSE_S``; returns them."""
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


reaper = ChatReaper()


def session_chat(client: ApiClient, feature_id: str) -> LiveChat:
    """The session's feed for ``feature_id`` (another feature's is closed first)."""
    current: LiveChat | None = st.session_state.get(CHAT_KEY)
    if current is not None:
        snap = current.snapshot()
        reaped = snap.stopped and not snap.ended
        if current.feature_id == feature_id and not reaped:
            reaper.touch(current)
            return current
        reaper.forget(current)
        current.close()
    chat: LiveChat = client.open_feature_chat(feature_id)
    st.session_state[CHAT_KEY] = chat
    reaper.touch(chat)
    return chat


def feature_view(client: ApiClient, feature_id: str, *, force: bool = False) -> FeatureView:
    """The feature and its runs, re-read at most every ``VIEW_REFRESH_S``."""
    view: FeatureView | None = st.session_state.get(VIEW_KEY)
    now = time.monotonic()
    fresh = view is not None and view.feature.id == feature_id
    if fresh and not force and view is not None and now - view.read_at < VIEW_REFRESH_S:
        return view
    feature = client.get_feature(feature_id)
    runs = sorted(
        (r for r in client.list_runs(feature.project_id) if r.feature_id == feature_id),
        key=lambda r: (r.started_at, r.step, r.attempt),
    )
    view = FeatureView(feature, {r.id: r for r in runs}, now)
    st.session_state[VIEW_KEY] = view
    return view


def window() -> int:
    return int(st.session_state.get(WINDOW_KEY, DEFAULT_WINDOW))


def load_earlier() -> None:
    st.session_state[WINDOW_KEY] = window() + WINDOW_STEP
