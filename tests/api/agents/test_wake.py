"""The wake-up of a live step's owner for a message POSTed through another API process.

In-process over moto: the owner's side (the internal route offers the stored
message to its live step's bus listener, and only when that step listens
there), the poster's side (the owner's address from the feature's claim and
its heartbeat, the call made with the operator token) and when a POST needs it.
The figure (through another process: ~1 s poll → a few tens of ms) is
``bench/live_steering.py``'s.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from api.auth import derive_agent_secret, mint_agent_token
from api.services import wake
from api.services.bus import MessageBus
from api.store.db import Db
from api.store.messages import create_message
from api.store.runs import create_run
from api.store.workers import beat
from core.models import (
    AgentMessage,
    AgentRun,
    AgentRunCreate,
    AgentRunRole,
    DeliveryMode,
    DeliveryReceipt,
    Feature,
    MessageSender,
    ReceiptState,
)
from tests.api.agents.test_relay import OWNER
from tests.api.agents.test_relay import feature as feature
from tests.conftest import AUTH, TOKEN


def live_run(db: Db, feature: Feature) -> AgentRun:
    data = AgentRunCreate(
        project_id=feature.project_id, feature_id=feature.id, role=AgentRunRole.CODER, live=True
    )
    return create_run(db, data=data)


def steer(db: Db, run: AgentRun) -> AgentMessage:
    message, _ = create_message(
        db,
        run=run,
        sender=MessageSender.USER,
        content="use SQLite",
        receipt=DeliveryReceipt(state=ReceiptState.QUEUED),
        mode=DeliveryMode.STEER,
    )
    return message


def test_the_owner_offers_the_stored_message_to_its_live_step_only(
    moto_db: Db, feature: Feature, client: TestClient
) -> None:
    run = live_run(moto_db, feature)
    message = steer(moto_db, run)
    bus: MessageBus = client.app.state.runtime.bus  # type: ignore[attr-defined]
    heard: list[str] = []
    bus.subscribe(lambda m: heard.append(m.id))
    url = f"/api/internal/agent-runs/{run.id}/wake"

    idle = client.post(url, json={"cursor": message.cursor}, headers=AUTH)
    assert (idle.status_code, idle.json(), heard) == (200, {"woken": False}, [])

    release = bus.take_live(run.id)
    woken = client.post(url, json={"cursor": message.cursor}, headers=AUTH)
    assert (woken.status_code, woken.json(), heard) == (200, {"woken": True}, [message.id])
    release()

    bad = client.post(url, json={"cursor": "x"}, headers=AUTH)
    assert bad.status_code == 422
    assert "is not a message cursor" in bad.json()["detail"]
    agent = {"Authorization": f"Bearer {mint_agent_token(derive_agent_secret(TOKEN), run.id)}"}
    assert client.post(url, json={"cursor": message.cursor}, headers=agent).status_code == 403


def test_the_poster_finds_the_owner_by_its_claim_and_heartbeat(
    moto_db: Db, feature: Feature
) -> None:
    run = live_run(moto_db, feature)
    message = steer(moto_db, run)
    bus = MessageBus()
    assert wake.needs_wake(message, run, bus)
    calls: list[tuple[str, dict[str, Any], dict[str, str]]] = []

    # No heartbeat address yet (an owner of an older version): no call, the poll delivers.
    wake._owners.clear()
    assert not wake.wake_owner(
        moto_db, run=run, message=message, api_token="tok", post=lambda *a: calls.append(a)
    )
    wake._owners.clear()
    beat(moto_db, worker_id=OWNER, started_at="2026-12-05T00:00:00Z", address="http://10.0.0.7:81")
    assert wake.wake_owner(
        moto_db, run=run, message=message, api_token="tok", post=lambda *a: calls.append(a)
    )
    assert calls == [
        (
            f"http://10.0.0.7:81/api/internal/agent-runs/{run.id}/wake",
            {"cursor": message.cursor},
            {"Authorization": "Bearer tok"},
        )
    ]

    # A step that listens in this process gets the message from the bus: no wake.
    release = bus.take_live(run.id)
    assert not wake.needs_wake(message, run, bus)
    release()
    queued_for_later = message.model_copy(update={"mode": DeliveryMode.QUEUE})
    assert not wake.needs_wake(queued_for_later, run, bus)
