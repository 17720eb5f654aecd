"""A steer POSTed to the process that runs the live step is stored already ``sent``.

Why that is safe (``api.routes.messages._user_receipt``): the step gets it from
the bus inside the POST and writes it to the agent with no store call first.
Here the process "dies right after the 201": the live step is registered on the
bus (as ``start_live_step`` does) but never writes. What is proven: nothing is
lost (the relay a restarted process builds hands the message to the next step,
once, and its receipt says so), and nothing can withdraw it any more; a POST
while no live step of the run is in this process stays ``queued`` (the session
poll of the owning process writes it, as before).
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.services.bus import MessageBus
from api.store.db import Db
from api.store.messages import list_messages
from api.store.runs import create_run
from core.models import AgentRunCreate, AgentRunRole, Feature, MessageSender, ReceiptState
from tests.api.agents.test_relay import deliver, new_run, relay_for
from tests.api.agents.test_relay import feature as feature
from tests.conftest import AUTH


def test_a_steer_stored_sent_reaches_the_next_step_when_the_process_dies_after_the_201(
    moto_db: Db, feature: Feature, client: TestClient
) -> None:
    coder = create_run(
        moto_db,
        data=AgentRunCreate(
            project_id=feature.project_id,
            feature_id=feature.id,
            role=AgentRunRole.CODER,
            step=2,
            live=True,
        ),
    )
    bus: MessageBus = client.app.state.runtime.bus  # type: ignore[attr-defined]
    url = f"/api/agent-runs/{coder.id}/messages"

    queued = client.post(url, json={"content": "not live here yet"}, headers=AUTH)
    assert queued.status_code == 201
    assert queued.json()["receipt"]["state"] == "queued"

    release = bus.take_live(coder.id)  # the live step listens in this process
    posted = client.post(url, json={"content": "Use SQLite", "id": "steer-1"}, headers=AUTH)
    assert posted.status_code == 201
    receipt = posted.json()["receipt"]
    assert (receipt["state"], receipt["channel"], receipt["runId"]) == ("sent", "live", coder.id)
    assert receipt["sentAt"]
    release()  # ...and the process is gone: nothing was written to any agent

    # Sent: too late to withdraw (the agent may have it).
    withdrawn = client.delete(f"{url}/steer-1", headers=AUTH)
    assert withdrawn.status_code == 409, withdrawn.text

    # The restarted process's relay hands both to the next step, once, and says so.
    reviewer = new_run(moto_db, feature, AgentRunRole.REVIEWER, 3)
    relay = relay_for(moto_db, feature, [coder, reviewer])
    delivered, _ = deliver(relay, reviewer)
    assert sorted(m.content for m in delivered) == ["Use SQLite", "not live here yet"]
    assert relay_for(moto_db, feature, [coder, reviewer]).batch_for_step() == []
    [stored] = [
        m
        for m in list_messages(moto_db, run_id=coder.id, sender=MessageSender.USER)
        if m.id == "steer-1"
    ]
    assert stored.receipt is not None
    assert stored.receipt.state is ReceiptState.DELIVERED
    assert (stored.receipt.channel, stored.receipt.run_id) == ("relay", reviewer.id)
    assert stored.receipt.sent_at == receipt["sentAt"]
