"""The chat's stream bookkeeping: idle session chats are closed, watched ones kept."""

from __future__ import annotations

from core.chat import FeatureChat
from pages.lib.chat_session import CHAT_IDLE_CLOSE_S, ChatReaper

NOWHERE = "http://127.0.0.1:9"


def test_the_reaper_closes_only_chats_nobody_looks_at() -> None:
    reaper = ChatReaper()
    idle = FeatureChat("ftr_idle", base_url=NOWHERE, token="t", start=False)
    watched = FeatureChat("ftr_watched", base_url=NOWHERE, token="t", start=False)
    reaper.touch(idle, now=0.0)
    reaper.touch(watched, now=0.0)
    assert reaper.reap(CHAT_IDLE_CLOSE_S / 2) == []

    reaper.touch(watched, now=CHAT_IDLE_CLOSE_S)  # a tick of a session still open
    assert reaper.reap(CHAT_IDLE_CLOSE_S + 1) == [idle]
    assert idle.snapshot().stopped
    assert not watched.snapshot().stopped

    reaper.forget(watched)  # the user closed it
    assert reaper.reap(10 * CHAT_IDLE_CLOSE_S) == []
