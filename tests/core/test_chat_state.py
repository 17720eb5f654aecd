"""``core.chat_state.Conversation``: echo reconciliation, forward-only receipts."""

from __future__ import annotations

from core.chat_state import Conversation
from core.cursor import format_cursor
from core.models import (
    AgentMessage,
    DeliveryMode,
    DeliveryReceipt,
    MessageSender,
    MessageType,
    ReceiptState,
)


def stored(
    message_id: str, n: int, *, run_id: str = "run_1", receipt: ReceiptState | None = None
) -> AgentMessage:
    return AgentMessage(
        id=message_id,
        run_id=run_id,
        feature_id="ftr_1",
        project_id="prj_1",
        sender=MessageSender.USER,
        content=f"message {n}",
        timestamp="2026-11-30T10:00:00.000000Z",
        cursor=format_cursor(n),
        receipt=DeliveryReceipt(state=receipt) if receipt else None,
    )


def test_the_echo_replaces_the_optimistic_copy_whichever_comes_first() -> None:
    state = Conversation()
    sent = state.add_optimistic("message 1", mode=DeliveryMode.QUEUE)
    assert [m.id for m in state.all_messages()] == [sent.id]
    assert state.waiting_for_delivery() == [sent]
    echo = stored(sent.id, 1, receipt=ReceiptState.QUEUED)
    state.apply(echo, event_id="e1")
    state.confirm(echo)  # the POST answer after the stream's copy
    assert [m.id for m in state.all_messages()] == [sent.id]
    assert state.optimistic == {}
    assert state.last_event_id == "e1"


def test_receipts_only_move_forward() -> None:
    state = Conversation()
    state.apply(stored("m1", 1, receipt=ReceiptState.QUEUED))
    state.apply(stored("m1", 1, receipt=ReceiptState.SENT))
    state.apply(stored("m1", 1, receipt=ReceiptState.DELIVERED))
    state.apply(stored("m1", 1, receipt=ReceiptState.QUEUED))  # a stale replay
    message = state.get("m1")
    assert message is not None
    assert message.receipt is not None
    assert message.receipt.state is ReceiptState.DELIVERED
    assert state.waiting_for_delivery() == []


def test_a_delivery_notice_updates_its_target_and_a_withdrawal_ends_waiting() -> None:
    state = Conversation()
    state.apply(stored("m1", 1, receipt=ReceiptState.QUEUED))
    state.apply(stored("m2", 2, receipt=ReceiptState.QUEUED))
    notice = stored("n3", 3).model_copy(
        update={
            "type": MessageType.STATUS,
            "receipt_for": "m1",
            "receipt": DeliveryReceipt(state=ReceiptState.DELIVERED, step=2),
        }
    )
    state.apply(notice)
    state.withdrawn("m2", "run_1")
    assert [m.id for m in state.waiting_for_delivery()] == []
    first, second = state.get("m1"), state.get("m2")
    assert first is not None
    assert first.receipt is not None
    assert first.receipt.state is ReceiptState.DELIVERED
    assert second is not None
    assert second.receipt is not None
    assert second.receipt.state is ReceiptState.WITHDRAWN


def test_the_same_id_in_two_steps_is_two_messages() -> None:
    state = Conversation()
    state.apply(stored("reply-m1", 1, run_id="run_1"))
    state.apply(stored("reply-m1", 1, run_id="run_2"))  # the next step answered the relay
    assert [m.run_id for m in state.messages] == ["run_1", "run_2"]


def test_a_refused_send_is_rolled_back_with_the_reason() -> None:
    state = Conversation()
    sent = state.add_optimistic("too late")
    state.roll_back(sent.id, "Feature X has ended.")
    assert state.all_messages() == []
    assert state.error == 'Not sent: "too late" — Feature X has ended.'


def test_steps_stay_in_order_when_an_earlier_step_speaks_late() -> None:
    state = Conversation()
    state.apply(stored("a", 5, run_id="run_1"))
    state.apply(stored("b", 1, run_id="run_2"))  # the next step's thread starts at 1
    state.apply(stored("c", 6, run_id="run_1"))  # run 1's closing notice, after run 2 spoke
    state.apply(stored("d", 4, run_id="run_1"))  # an older message of run 1 (a replay)
    state.apply(stored("e", 2, run_id="run_2"))
    assert [m.id for m in state.all_messages()] == ["d", "a", "c", "b", "e"]
    assert all(state.get(m.id, m.run_id) is m for m in state.messages)  # the index followed
    state.apply(stored("c", 6, run_id="run_1", receipt=ReceiptState.DELIVERED))
    assert [m.id for m in state.messages].count("c") == 1
