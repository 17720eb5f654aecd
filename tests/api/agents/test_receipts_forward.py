"""Receipts only move forward: a writer holding a stale copy never overwrites a newer receipt."""

from __future__ import annotations

from api.services.bus import MessageBus
from api.services.mcp_inbox import check_messages
from api.store.db import Db
from api.store.messages import find_message, list_messages
from api.store.receipts import PENDING_STATES, advance_receipt
from core.models import AgentRunRole, DeliveryReceipt, Feature, ReceiptState
from tests.api.agents.test_relay import feature, new_run, relay_for, say  # noqa: F401


def test_the_relay_keeps_a_receipt_check_messages_wrote_first(
    moto_db: Db,
    feature: Feature,  # noqa: F811 - the fixture
) -> None:
    coder = new_run(moto_db, feature, AgentRunRole.CODER, 2)
    relay = relay_for(moto_db, feature, [coder])
    message = say(moto_db, coder, "use tabs")
    relay.poll()  # the relay now holds a queued copy
    [handed] = check_messages(moto_db, MessageBus(), run=coder)
    assert handed.receipt is not None
    assert handed.receipt.channel == "mcp"

    inbox = relay.deliver_to_inbox(coder)  # its copy is stale: the store says mcp
    assert [m.receipt.channel for m in inbox if m.receipt] == ["mcp"]
    assert relay.close_undelivered() == []  # delivered: not swept to not_delivered
    stored = find_message(moto_db, run_id=coder.id, message_id=message.id)
    assert stored is not None
    assert stored.receipt is not None
    assert (stored.receipt.state, stored.receipt.channel) == (ReceiptState.DELIVERED, "mcp")
    notices = [m for m in list_messages(moto_db, run_id=coder.id) if m.receipt_for == message.id]
    assert [n.content for n in notices] == [
        "📬 Delivered to Nori (coder, step 2) via its omakase tools"
    ]


def test_a_withdrawn_message_is_never_delivered(
    moto_db: Db,
    feature: Feature,  # noqa: F811 - the fixture
) -> None:
    coder = new_run(moto_db, feature, AgentRunRole.CODER, 2)
    message = say(moto_db, coder, "never mind")
    _, written = advance_receipt(
        moto_db,
        run_id=coder.id,
        cursor=message.cursor,
        receipt=DeliveryReceipt(state=ReceiptState.WITHDRAWN),
        replaces=PENDING_STATES,
    )
    assert written
    assert check_messages(moto_db, MessageBus(), run=coder) == []
    stored, written = advance_receipt(
        moto_db,
        run_id=coder.id,
        cursor=message.cursor,
        receipt=DeliveryReceipt(state=ReceiptState.DELIVERED, channel="inbox"),
    )
    assert not written
    assert stored.receipt is not None
    assert stored.receipt.state is ReceiptState.WITHDRAWN
