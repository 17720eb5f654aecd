"""ThreadState and the chat's HTML: merging, optimistic sends, windowing, escaping."""

from __future__ import annotations

from core.cursor import format_cursor
from core.models import (
    AgentMessage,
    AgentRunRole,
    DeliveryReceipt,
    MessageSender,
    MessageType,
    ReceiptState,
)
from pages.lib.thread import (
    DEFAULT_WINDOW,
    WINDOW_STEP,
    PendingMessage,
    ThreadState,
    empty_text,
    message_html,
    pending_html,
    receipt_text,
)


def message(
    n: int,
    content: str = "hello",
    *,
    sender: MessageSender = MessageSender.AGENT,
    type: MessageType = MessageType.MESSAGE,
    message_id: str | None = None,
    receipt: DeliveryReceipt | None = None,
    receipt_for: str | None = None,
) -> AgentMessage:
    return AgentMessage(
        id=message_id or f"msg_{n}",
        run_id="run_1",
        feature_id="ftr_1",
        project_id="prj_1",
        sender=sender,
        role=AgentRunRole.CODER if sender is MessageSender.AGENT else None,
        content=content,
        type=type,
        timestamp=f"2026-11-24T05:00:{n:02d}.000000Z",
        cursor=format_cursor(n),
        receipt=receipt,
        receipt_for=receipt_for,
    )


def test_merge_keeps_cursor_order_and_never_duplicates() -> None:
    state = ThreadState(run_id="run_1")
    assert state.merge([message(1), message(2)]) == 2
    assert state.merge([message(2), message(3)]) == 1
    assert state.merge([message(0, message_id="late")]) == 1
    assert [m.cursor for m in state.messages] == [format_cursor(n) for n in (0, 1, 2, 3)]
    assert state.cursor == format_cursor(3)


def test_an_optimistic_message_is_replaced_by_its_server_copy() -> None:
    state = ThreadState(run_id="run_1")
    pending = state.add_pending("more garlic")
    assert state.has_conversation()
    state.merge([message(1, "more garlic", sender=MessageSender.USER, message_id=pending.id)])
    assert state.pending == []
    assert [m.content for m in state.messages] == ["more garlic"]


def test_rollback_removes_the_bubble_and_says_why() -> None:
    state = ThreadState(run_id="run_1")
    pending = state.add_pending("too late")
    state.rollback(pending.id, "Agent run run_1 is no longer active.")
    assert state.pending == []
    assert state.send_error == 'Not sent: "too late" — Agent run run_1 is no longer active.'
    state.add_pending("again")
    assert state.send_error is None


def test_status_notices_do_not_make_a_conversation() -> None:
    state = ThreadState(run_id="run_1")
    state.merge([message(1, "Started coding phase", type=MessageType.STATUS)])
    assert not state.has_conversation()
    state.merge([message(2)])
    assert state.has_conversation()
    assert empty_text("Nori", "Broth") == "Send a message to Nori while they work on Broth"


def test_a_receipt_notice_updates_its_user_message() -> None:
    state = ThreadState(run_id="run_1")
    state.merge([message(1, "hi", sender=MessageSender.USER, message_id="web-1")])
    delivered = DeliveryReceipt(state=ReceiptState.DELIVERED, step=3, role=AgentRunRole.TESTER)
    state.merge(
        [message(2, "Delivered", type=MessageType.STATUS, receipt=delivered, receipt_for="web-1")]
    )
    assert state.messages[0].receipt == delivered


def test_replace_keeps_receipts_learnt_by_re_reading() -> None:
    state = ThreadState(run_id="run_1")
    queued = message(1, "hi", sender=MessageSender.USER, message_id="web-1")
    delivered = DeliveryReceipt(state=ReceiptState.DELIVERED, step=2)
    state.merge([queued])
    state.merge([queued.model_copy(update={"receipt": delivered})])
    state.replace([queued, message(2)], [PendingMessage("web-2", "next", "t")])
    assert state.messages[0].receipt == delivered
    assert [p.id for p in state.pending] == ["web-2"]


def test_window_and_load_earlier() -> None:
    state = ThreadState(run_id="run_1")
    state.merge([message(n) for n in range(1, 201)])
    hidden, shown = state.visible()
    assert (hidden, len(shown)) == (200 - DEFAULT_WINDOW, DEFAULT_WINDOW)
    assert shown[-1].cursor == format_cursor(200)
    state.load_earlier()
    assert state.visible()[0] == 200 - DEFAULT_WINDOW - WINDOW_STEP


def test_read_marker_moves_only_forward() -> None:
    state = ThreadState(run_id="run_1")
    assert state.unread_after_marker() is None
    state.merge([message(1)])
    assert state.unread_after_marker() == format_cursor(1)
    state.read_cursor = format_cursor(1)
    assert state.unread_after_marker() is None


def test_receipt_texts() -> None:
    assert receipt_text(None) == "queued"
    assert (
        receipt_text(
            DeliveryReceipt(state=ReceiptState.DELIVERED, step=3, role=AgentRunRole.REVIEWER)
        )
        == "delivered to step 3 (Koji, reviewer)"
    )
    assert (
        receipt_text(DeliveryReceipt(state=ReceiptState.NOT_DELIVERED, reason="the pipeline ended"))
        == "not delivered: the pipeline ended"
    )


def test_content_is_always_escaped() -> None:
    evil = '<img src=x onerror=alert(1)> & "quotes"'
    for sender in MessageSender:
        for kind in MessageType:
            rendered = message_html(message(1, evil, sender=sender, type=kind))
            assert "<img" not in rendered
            assert "&lt;img src=x onerror=alert(1)&gt; &amp; &quot;quotes&quot;" in rendered
    assert "<img" not in pending_html(PendingMessage("web-1", evil, "t"))


def test_message_layout_classes() -> None:
    assert 'class="oma-msg oma-msg-agent"' in message_html(message(1))
    assert "🍙" in message_html(message(1))
    assert "oma-msg-user" in message_html(message(1, sender=MessageSender.USER))
    assert 'class="oma-status"' in message_html(message(1, type=MessageType.STATUS))
    assert "oma-error-msg" in message_html(message(1, type=MessageType.ERROR))
