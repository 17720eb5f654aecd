"""``core.chat.FeatureChat`` against the real API over HTTP: one conversation across steps.

The steps are started the way the pipeline starts them (a run, and the feature's
checkpoint naming it current), so the feature routes route as in production.
"""

from __future__ import annotations

from api.store.db import Db
from api.store.runs import set_run_status
from core.chat import FeatureChat
from core.chat_wire import ChatSnapshot
from core.models import AgentRunRole, AgentRunStatus, DeliveryMode, MessageSender, ReceiptState
from tests.api.routes.test_conversation import start_step
from tests.conftest import TOKEN
from tests.support.servers import ApiServer

#: Upper bound for any expected state change (a failing test, not a timing claim).
WAIT_S = 15.0


def make_feature(api: ApiServer) -> tuple[str, str]:
    with api.client() as client:
        pid = client.post("/api/projects", json={"name": "Chat"}).json()["id"]
        fid = client.post(f"/api/projects/{pid}/features", json={"name": "Broth"}).json()["id"]
    return pid, fid


def contents(snapshot: ChatSnapshot) -> list[str]:
    return [m.content for m in snapshot.messages]


def test_one_chat_follows_the_feature_across_steps_and_withdraws(
    api: ApiServer, stream_db: Db
) -> None:
    pid, fid = make_feature(api)
    architect = start_step(stream_db, pid, fid, AgentRunRole.ARCHITECT, 1)
    with FeatureChat(fid, base_url=api.url, token=TOKEN) as chat:
        chat.wait_until(lambda s: s.is_connected, WAIT_S)
        chat.send_message("plan for 12 hours")
        chat.wait_until(lambda s: "plan for 12 hours" in contents(s) and not s.pending_ids, WAIT_S)

        # Between steps: held for the next step, listed as waiting, withdrawable.
        set_run_status(stream_db, run_id=architect.id, status=AgentRunStatus.COMPLETED)
        held_id = chat.send_message("use SQLite", mode=DeliveryMode.QUEUE)
        held = chat.wait_until(lambda s: held_id not in s.pending_ids, WAIT_S)
        stored = next(m for m in held.messages if m.id == held_id)
        assert stored.run_id == architect.id
        assert held_id in [m.id for m in held.waiting]
        assert chat.withdraw(stored.run_id, held_id)
        gone = chat.wait_until(lambda s: held_id not in [m.id for m in s.waiting], WAIT_S)
        withdrawn = next(m for m in gone.messages if m.id == held_id)
        assert withdrawn.receipt is not None
        assert withdrawn.receipt.state is ReceiptState.WITHDRAWN
        assert not chat.withdraw(stored.run_id, held_id)  # twice: 409, said in the chat
        assert chat.snapshot().error is not None

        # The next step speaks in the same conversation, after a divider's worth of run change.
        coder = start_step(stream_db, pid, fid, AgentRunRole.CODER, 2)
        with api.client() as client:
            client.post(f"/api/features/{fid}/messages", json={"content": "more garlic"})
        done = chat.wait_until(lambda s: "more garlic" in contents(s), WAIT_S)
        runs = [m.run_id for m in done.messages if m.sender is MessageSender.USER]
        assert runs[0] == architect.id
        assert runs[-1] == coder.id
        assert contents(done).count("plan for 12 hours") == 1


def test_a_feature_that_does_not_exist_stops_the_chat_with_the_reason(api: ApiServer) -> None:
    with FeatureChat("ftr_missing", base_url=api.url, token=TOKEN) as chat:
        stopped = chat.wait_until(lambda s: s.stopped, WAIT_S)
    assert stopped.error is not None
    assert "ftr_missing" in stopped.error


def test_withdraw_reports_an_unreachable_service() -> None:
    chat = FeatureChat("ftr_x", base_url="http://127.0.0.1:9", token=TOKEN, start=False)
    assert not chat.withdraw("run_x", "msg_x")
    error = chat.snapshot().error
    assert error is not None
    assert error.startswith("Not withdrawn: the service could not be reached")
