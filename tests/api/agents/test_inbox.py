"""The mid-step inbox is capped like the guidance section (issue 13 item 7)."""

from __future__ import annotations

import json
from pathlib import Path

from api.agents.inbox import (
    MAX_INBOX_CHARS,
    MAX_MESSAGE_CHARS_IN_INBOX,
    render_inbox,
    select_for_inbox,
    write_inbox,
)
from core.models import AgentMessage, MessageSender


def message(number: int, content: str) -> AgentMessage:
    return AgentMessage(
        id=f"msg_{number}",
        run_id="run_1",
        feature_id="feat_1",
        project_id="prj_1",
        sender=MessageSender.USER,
        content=content,
        timestamp=f"2026-11-24T12:00:{number:02d}.000000Z",
        cursor=f"{number:020d}",
    )


def test_many_long_messages_keep_the_newest_within_the_cap(tmp_path: Path) -> None:
    messages = [message(n, f"{n}:" + "x" * 30_000) for n in range(10)]
    kept, dropped = select_for_inbox(messages)
    assert dropped > 0
    assert [m.id for m in kept] == [m.id for m in messages[dropped:]]
    assert sum(len(m.content) for m in kept) <= MAX_INBOX_CHARS
    assert all(len(m.content) <= MAX_MESSAGE_CHARS_IN_INBOX for m in kept)
    text = render_inbox(messages)
    assert len(text) < MAX_INBOX_CHARS + 4_000  # the cap plus headings
    assert f"{dropped} older messages omitted" in text
    assert "9:xxx" in text
    write_inbox(tmp_path, messages)
    records = json.loads((tmp_path / "inbox.json").read_text())
    assert [r["id"] for r in records] == [m.id for m in kept]


def test_one_huge_message_is_clipped_not_dropped() -> None:
    kept, dropped = select_for_inbox([message(1, "y" * 100_000)])
    assert dropped == 0
    assert len(kept[0].content) == MAX_MESSAGE_CHARS_IN_INBOX
    assert kept[0].content.endswith("…[truncated]")


def test_short_inboxes_are_whole() -> None:
    messages = [message(n, f"hello {n}") for n in range(3)]
    assert select_for_inbox(messages) == (messages, 0)
    assert "omitted" not in render_inbox(messages)
