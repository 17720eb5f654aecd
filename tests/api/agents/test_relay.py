"""The relay on moto: receipts, notices, persisted cursors (no loss, no double relay)."""

from __future__ import annotations

from typing import Any

import pytest

from api.agents.relay import FeatureRelay
from api.services.bus import MessageBus
from api.store.claims import ClaimLostError, claim_pending, read_claim, take_over
from api.store.db import Db
from api.store.features import create_feature
from api.store.messages import create_message, list_messages
from api.store.projects import create_project
from api.store.runs import create_run
from core.models import (
    AgentMessage,
    AgentRun,
    AgentRunCreate,
    AgentRunRole,
    DeliveryReceipt,
    Feature,
    FeatureCreate,
    MessageSender,
    MessageType,
    ProjectCreate,
    ReceiptState,
)

OWNER = "wrk_test"


@pytest.fixture
def feature(moto_db: Db) -> Feature:
    project = create_project(moto_db, data=ProjectCreate(name="relay"))
    created = create_feature(moto_db, project_id=project.id, data=FeatureCreate(name="Login"))
    claim_pending(moto_db, feature_id=created.id, owner_id=OWNER)
    return created


def new_run(db: Db, feature: Feature, role: AgentRunRole, step: int) -> AgentRun:
    return create_run(
        db,
        data=AgentRunCreate(
            project_id=feature.project_id, feature_id=feature.id, role=role, step=step
        ),
    )


def say(db: Db, run: AgentRun, content: str) -> AgentMessage:
    message, _ = create_message(
        db,
        run=run,
        sender=MessageSender.USER,
        content=content,
        receipt=DeliveryReceipt(state=ReceiptState.QUEUED),
    )
    return message


def relay_for(db: Db, feature: Feature, runs: list[AgentRun]) -> FeatureRelay:
    """A relay as a (re)started process builds it: cursors from the store."""
    claim = read_claim(db, feature_id=feature.id)
    return FeatureRelay(
        db,
        MessageBus(),
        feature_id=feature.id,
        owner_id=OWNER,
        relay_cursors=claim.relay_cursors,
        runs=runs,
    )


def notices(db: Db, run: AgentRun, about: AgentMessage) -> list[AgentMessage]:
    return [m for m in list_messages(db, run_id=run.id) if m.receipt_for == about.id]


def deliver(relay: FeatureRelay, run: AgentRun) -> tuple[list[AgentMessage], list[dict[str, Any]]]:
    """What the pipeline does at a step start: the batch, its records, then the receipts."""
    batch = relay.batch_for_step()
    records = [relay.record(m, run) for m in batch]
    return relay.deliver_to_step(run, batch), records


def test_inbox_then_relay_keeps_the_first_receipt_and_one_notice(
    moto_db: Db, feature: Feature
) -> None:
    coder = new_run(moto_db, feature, AgentRunRole.CODER, 2)
    relay = relay_for(moto_db, feature, [coder])
    message = say(moto_db, coder, "use sqlite")
    inbox = relay.deliver_to_inbox(coder)
    assert [m.content for m in inbox] == ["use sqlite"]
    receipt = inbox[0].receipt
    assert receipt is not None
    assert (receipt.state, receipt.channel, receipt.run_id, receipt.step) == (
        ReceiptState.DELIVERED,
        "inbox",
        coder.id,
        2,
    )
    assert relay.deliver_to_inbox(coder) == inbox  # the same inbox, the same receipt

    reviewer = new_run(moto_db, feature, AgentRunRole.REVIEWER, 3)
    relay.add_run(reviewer)
    _, records = deliver(relay, reviewer)
    assert [r["content"] for r in records] == ["use sqlite"]
    assert records[0]["firstDelivery"]["channel"] == "inbox"
    [notice] = notices(moto_db, coder, message)
    assert notice.content == "📬 Delivered to Nori (coder, step 2) via the inbox"
    assert notice.type is MessageType.STATUS
    assert notice.sender is MessageSender.AGENT
    assert notice.receipt is not None
    assert notice.receipt.run_id == coder.id
    stored = list_messages(moto_db, run_id=coder.id, sender=MessageSender.USER)[0]
    assert stored.receipt == receipt


def test_relay_cursor_survives_restarts_without_loss_or_repeat(
    moto_db: Db, feature: Feature
) -> None:
    coder = new_run(moto_db, feature, AgentRunRole.CODER, 2)
    reviewer = new_run(moto_db, feature, AgentRunRole.REVIEWER, 3)
    first = say(moto_db, coder, "first")
    before = relay_for(moto_db, feature, [coder])
    assert [m.content for m in deliver(before, reviewer)[0]] == ["first"]
    assert read_claim(moto_db, feature_id=feature.id).relay_cursors == {coder.id: first.cursor}

    # A restart after the relay: nothing is pending again.
    restarted = relay_for(moto_db, feature, [coder, reviewer])
    assert restarted.poll() == []
    second = say(moto_db, reviewer, "second")
    assert [m.content for m in restarted.poll()] == ["second"]

    # A restart while "second" is pending: it is pending again, not lost.
    again = relay_for(moto_db, feature, [coder, reviewer])
    tester = new_run(moto_db, feature, AgentRunRole.TESTER, 4)
    again.add_run(tester)
    delivered, records = deliver(again, tester)
    assert [m.content for m in delivered] == ["second"]
    assert records[0]["firstDelivery"]["runId"] == tester.id
    receipt = delivered[0].receipt
    assert receipt is not None
    assert (receipt.channel, receipt.role, receipt.step) == ("relay", AgentRunRole.TESTER, 4)
    assert len(notices(moto_db, reviewer, second)) == 1
    assert notices(moto_db, reviewer, second)[0].content == "📬 Delivered to Toro (tester, step 4)"
    assert relay_for(moto_db, feature, [coder, reviewer, tester]).poll() == []


def test_messages_no_step_received_are_marked_not_delivered(moto_db: Db, feature: Feature) -> None:
    tester = new_run(moto_db, feature, AgentRunRole.TESTER, 4)
    relay = relay_for(moto_db, feature, [tester])
    late = say(moto_db, tester, "too late")
    [closed] = relay.close_undelivered()
    assert closed.receipt is not None
    assert closed.receipt.state is ReceiptState.NOT_DELIVERED
    assert closed.receipt.reason == "the pipeline ended"
    [notice] = notices(moto_db, tester, late)
    assert notice.content == "📭 Not delivered: the pipeline ended"


def test_guidance_collects_every_user_message_of_the_feature(moto_db: Db, feature: Feature) -> None:
    coder = new_run(moto_db, feature, AgentRunRole.CODER, 2)
    reviewer = new_run(moto_db, feature, AgentRunRole.REVIEWER, 3)
    say(moto_db, coder, "one")
    say(moto_db, reviewer, "two")
    relay = relay_for(moto_db, feature, [coder, reviewer])
    deliver(relay, reviewer)
    guidance = relay.guidance()
    assert [g.content for g in guidance] == ["one", "two"]
    assert guidance[0].sent_to == "Nori (coder, step 2)"


def test_a_former_owner_cannot_move_the_cursors(moto_db: Db, feature: Feature) -> None:
    coder = new_run(moto_db, feature, AgentRunRole.CODER, 2)
    relay = relay_for(moto_db, feature, [coder])
    say(moto_db, coder, "hello")
    from api.store.claims import release_claim

    release_claim(moto_db, feature_id=feature.id, owner_id=OWNER)
    take_over(moto_db, feature_id=feature.id, owner_id="wrk_other", previous_owner=None)
    with pytest.raises(ClaimLostError):
        deliver(relay, new_run(moto_db, feature, AgentRunRole.REVIEWER, 3))


def test_a_step_that_could_not_start_claims_no_delivery(moto_db: Db, feature: Feature) -> None:
    """Regression: receipts were written before the process started; an environment the
    kernel refused (E2BIG) then failed the step after its messages were marked delivered."""
    coder = new_run(moto_db, feature, AgentRunRole.CODER, 2)
    message = say(moto_db, coder, "use sqlite")
    relay = relay_for(moto_db, feature, [coder])
    reviewer = new_run(moto_db, feature, AgentRunRole.REVIEWER, 3)
    relay.add_run(reviewer)
    assert [m.id for m in relay.batch_for_step()] == [message.id]
    # The process did not start: nothing was receipted, the message is still pending.
    [stored] = list_messages(moto_db, run_id=coder.id, sender=MessageSender.USER)
    assert stored.receipt is not None
    assert stored.receipt.state is ReceiptState.QUEUED
    retry = new_run(moto_db, feature, AgentRunRole.REVIEWER, 3)
    relay.add_run(retry)
    delivered, _ = deliver(relay, retry)
    assert [m.id for m in delivered] == [message.id]
    assert delivered[0].receipt is not None
    assert delivered[0].receipt.run_id == retry.id
