"""Receipts only move forward (issue 13 item 8): a stale owner cannot downgrade one."""

from __future__ import annotations

import pytest

from api.store.db import Db
from api.store.errors import NotFoundError
from api.store.messages import create_message, find_message
from api.store.receipts import advance_receipt
from api.store.runs import create_run
from core.models import (
    AgentRun,
    AgentRunCreate,
    AgentRunRole,
    DeliveryReceipt,
    MessageSender,
    ReceiptState,
)


def new_run(db: Db) -> AgentRun:
    return create_run(
        db, data=AgentRunCreate(project_id="prj_1", feature_id="feat_1", role=AgentRunRole.CODER)
    )


def receipt(state: ReceiptState) -> DeliveryReceipt:
    return DeliveryReceipt(state=state, run_id="run_x")


def test_a_stale_owner_cannot_downgrade_delivered(db: Db) -> None:
    run = new_run(db)
    message, _ = create_message(
        db, run=run, sender=MessageSender.USER, content="hi", receipt=receipt(ReceiptState.QUEUED)
    )
    sent, written = advance_receipt(
        db, run_id=run.id, cursor=message.cursor, receipt=receipt(ReceiptState.SENT)
    )
    assert written
    assert sent.receipt is not None
    assert sent.receipt.state is ReceiptState.SENT
    assert advance_receipt(
        db, run_id=run.id, cursor=message.cursor, receipt=receipt(ReceiptState.DELIVERED)
    )[1]
    for stale in (ReceiptState.SENT, ReceiptState.QUEUED, ReceiptState.DELIVERED):
        stood, written = advance_receipt(
            db, run_id=run.id, cursor=message.cursor, receipt=receipt(stale)
        )
        assert not written
        assert stood.receipt is not None
        assert stood.receipt.state is ReceiptState.DELIVERED
    stored = find_message(db, run_id=run.id, message_id=message.id)
    assert stored is not None
    assert stored.receipt is not None
    assert stored.receipt.state is ReceiptState.DELIVERED


def test_end_states_are_final(db: Db) -> None:
    run = new_run(db)
    message, _ = create_message(
        db, run=run, sender=MessageSender.USER, content="hi", receipt=receipt(ReceiptState.QUEUED)
    )
    assert advance_receipt(
        db, run_id=run.id, cursor=message.cursor, receipt=receipt(ReceiptState.WITHDRAWN)
    )[1]
    for later in (ReceiptState.NOT_DELIVERED, ReceiptState.DELIVERED):
        stood, written = advance_receipt(
            db, run_id=run.id, cursor=message.cursor, receipt=receipt(later)
        )
        assert not written
        assert stood.receipt is not None
        assert stood.receipt.state is ReceiptState.WITHDRAWN


def test_a_receipt_on_a_missing_message_is_not_found(db: Db) -> None:
    run = new_run(db)
    with pytest.raises(NotFoundError):
        advance_receipt(db, run_id=run.id, cursor="0" * 12, receipt=receipt(ReceiptState.DELIVERED))
