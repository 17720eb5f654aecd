"""The feature conversation routes over moto: feature POST (running step, next step,
ended, not started) and withdrawal (204, 403, 404, 409), with the relay's filter."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.agents.relay import FeatureRelay
from api.services.bus import MessageBus
from api.store.claims import claim_pending, finish_pipeline, read_claim, save_checkpoint
from api.store.db import Db
from api.store.messages import list_messages
from api.store.runs import create_run, set_run_status
from core.models import (
    AgentRun,
    AgentRunCreate,
    AgentRunRole,
    AgentRunStatus,
    FeatureStatus,
    ReceiptState,
)
from tests.api.routes.test_messages import agent_auth
from tests.conftest import AUTH

OWNER = "wrk_conv"


def make_feature(client: TestClient) -> tuple[str, str]:
    pid = client.post("/api/projects", json={"name": "P"}, headers=AUTH).json()["id"]
    fid = client.post(f"/api/projects/{pid}/features", json={"name": "F"}, headers=AUTH).json()[
        "id"
    ]
    return pid, fid


def start_step(db: Db, pid: str, fid: str, role: AgentRunRole, step: int) -> AgentRun:
    """What the pipeline does at a step start: a run, and the feature's current run."""
    if step == 1:
        claim_pending(db, feature_id=fid, owner_id=OWNER)
    run = create_run(db, data=AgentRunCreate(project_id=pid, feature_id=fid, role=role, step=step))
    save_checkpoint(
        db,
        feature_id=fid,
        owner_id=OWNER,
        checkpoint={"step": step},
        current_step=step,
        current_run_id=run.id,
    )
    return run


def feature_url(fid: str) -> str:
    return f"/api/features/{fid}/messages"


def test_feature_post_goes_to_the_running_step(client: TestClient, moto_db: Db) -> None:
    pid, fid = make_feature(client)
    start_step(moto_db, pid, fid, AgentRunRole.ARCHITECT, 1)
    coder = start_step(moto_db, pid, fid, AgentRunRole.CODER, 2)
    response = client.post(feature_url(fid), json={"content": "use SQLite"}, headers=AUTH)
    assert response.status_code == 201
    body = response.json()
    assert (body["runId"], body["sender"], body["mode"]) == (coder.id, "user", "queue")
    assert body["receipt"]["state"] == "queued"


def test_between_steps_the_message_is_held_in_the_last_run(client: TestClient, moto_db: Db) -> None:
    pid, fid = make_feature(client)
    coder = start_step(moto_db, pid, fid, AgentRunRole.CODER, 1)
    set_run_status(moto_db, run_id=coder.id, status=AgentRunStatus.COMPLETED)
    # The run route refuses the ended run; the feature route holds it for the next step.
    run_post = client.post(
        f"/api/agent-runs/{coder.id}/messages", json={"content": "x"}, headers=AUTH
    )
    assert run_post.status_code == 409
    sent = {"content": "also add tests", "id": "c-1"}
    response = client.post(feature_url(fid), json=sent, headers=AUTH)
    assert response.status_code == 201
    assert (response.json()["runId"], response.json()["mode"]) == (coder.id, "queue")
    retry = client.post(feature_url(fid), json=sent, headers=AUTH)
    assert (retry.status_code, retry.json()["id"]) == (200, "c-1")
    interrupt = client.post(
        feature_url(fid), json={"content": "stop", "mode": "interrupt"}, headers=AUTH
    )
    assert interrupt.status_code == 409
    assert "interrupt" in interrupt.json()["detail"]
    # The feature's relay (which polls every run) hands it to the next step.
    relay = FeatureRelay(
        moto_db,
        MessageBus(),
        feature_id=fid,
        owner_id=OWNER,
        relay_cursors=read_claim(moto_db, feature_id=fid).relay_cursors,
        runs=[coder],
    )
    reviewer = start_step(moto_db, pid, fid, AgentRunRole.REVIEWER, 2)
    relay.add_run(reviewer)
    delivery = relay.deliver_to_step(reviewer)
    assert [m.id for m in delivery.messages] == ["c-1"]


def test_a_retry_after_the_step_changed_is_the_same_message(
    client: TestClient, moto_db: Db
) -> None:
    pid, fid = make_feature(client)
    coder = start_step(moto_db, pid, fid, AgentRunRole.CODER, 1)
    sent = {"content": "use SQLite", "id": "c-9"}
    first = client.post(feature_url(fid), json=sent, headers=AUTH)
    assert (first.status_code, first.json()["runId"]) == (201, coder.id)
    set_run_status(moto_db, run_id=coder.id, status=AgentRunStatus.COMPLETED)
    start_step(moto_db, pid, fid, AgentRunRole.REVIEWER, 2)
    retry = client.post(feature_url(fid), json=sent, headers=AUTH)
    assert (retry.status_code, retry.json()["runId"], retry.json()["id"]) == (200, coder.id, "c-9")
    other = client.post(feature_url(fid), json={**sent, "content": "else"}, headers=AUTH)
    assert other.status_code == 409


def test_feature_post_codes(client: TestClient, moto_db: Db) -> None:
    pid, fid = make_feature(client)
    not_started = client.post(feature_url(fid), json={"content": "hi"}, headers=AUTH)
    assert not_started.status_code == 409
    assert "not started" in not_started.json()["detail"]
    assert (
        client.post(feature_url("feat_nope"), json={"content": "hi"}, headers=AUTH).status_code
        == 404
    )
    assert client.post(feature_url(fid), json={"content": "  "}, headers=AUTH).status_code == 422
    assert client.post(feature_url(fid), json={"content": "hi"}).status_code == 401
    run = start_step(moto_db, pid, fid, AgentRunRole.CODER, 1)
    first = client.post(feature_url(fid), json={"content": "a", "id": "k-1"}, headers=AUTH)
    assert first.status_code == 201
    agent = client.post(feature_url(fid), json={"content": "a"}, headers=agent_auth(client, run.id))
    assert agent.status_code == 403
    set_run_status(moto_db, run_id=run.id, status=AgentRunStatus.COMPLETED)
    finish_pipeline(moto_db, feature_id=fid, owner_id=OWNER, status=FeatureStatus.PASSING)
    ended = client.post(feature_url(fid), json={"content": "more"}, headers=AUTH)
    assert ended.status_code == 409
    assert "has ended (passing)" in ended.json()["detail"]
    replay = client.post(feature_url(fid), json={"content": "a", "id": "k-1"}, headers=AUTH)
    assert (replay.status_code, replay.json()["id"]) == (200, "k-1")


def test_withdraw_before_delivery_then_409(client: TestClient, moto_db: Db) -> None:
    pid, fid = make_feature(client)
    coder = start_step(moto_db, pid, fid, AgentRunRole.CODER, 1)
    relay = FeatureRelay(
        moto_db, MessageBus(), feature_id=fid, owner_id=OWNER, relay_cursors={}, runs=[coder]
    )
    kept = client.post(feature_url(fid), json={"content": "keep me"}, headers=AUTH).json()
    gone = client.post(feature_url(fid), json={"content": "forget me"}, headers=AUTH).json()
    relay.poll()  # the relay holds an in-memory copy of both, still "queued"
    url = f"/api/agent-runs/{coder.id}/messages/{gone['id']}"
    assert client.delete(url, headers=agent_auth(client, coder.id)).status_code == 403
    assert client.delete(url, headers=AUTH).status_code == 204
    again = client.delete(url, headers=AUTH)
    assert again.status_code == 409
    assert "withdrawn" in again.json()["detail"]
    thread = list_messages(moto_db, run_id=coder.id)
    stored = next(m for m in thread if m.id == gone["id"])
    assert stored.receipt is not None
    assert stored.receipt.state is ReceiptState.WITHDRAWN
    notices = [m for m in thread if m.receipt_for == gone["id"]]
    assert len(notices) == 1
    assert notices[0].receipt is not None
    assert notices[0].receipt.state is ReceiptState.WITHDRAWN
    # Never relayed, never in the guidance (the stale pending copy is dropped).
    set_run_status(moto_db, run_id=coder.id, status=AgentRunStatus.COMPLETED)
    tester = start_step(moto_db, pid, fid, AgentRunRole.TESTER, 2)
    relay.add_run(tester)
    delivery = relay.deliver_to_step(tester)
    assert [m.id for m in delivery.messages] == [kept["id"]]
    assert [g.id for g in relay.guidance()] == [kept["id"]]
    delivered = client.delete(f"/api/agent-runs/{coder.id}/messages/{kept['id']}", headers=AUTH)
    assert delivered.status_code == 409
    assert "delivered" in delivered.json()["detail"]
    notice = notices[0]
    not_user = client.delete(f"/api/agent-runs/{coder.id}/messages/{notice.id}", headers=AUTH)
    assert not_user.status_code == 403
    missing = client.delete(f"/api/agent-runs/{coder.id}/messages/msg_nope", headers=AUTH)
    assert missing.status_code == 404
    assert client.delete("/api/agent-runs/run_nope/messages/x", headers=AUTH).status_code == 404


def test_conversation_markdown(client: TestClient, moto_db: Db) -> None:
    pid, fid = make_feature(client)
    start_step(moto_db, pid, fid, AgentRunRole.CODER, 1)
    client.post(feature_url(fid), json={"content": "use <b>SQLite</b>"}, headers=AUTH)
    response = client.get(f"/api/features/{fid}/conversation.md", headers=AUTH)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/markdown; charset=utf-8"
    text = response.text
    assert "### Step 1 · Nori 🍙 coder" in text
    assert "## Human guidance incorporated" in text
    assert "use &lt;b&gt;SQLite&lt;/b&gt;" in text
    assert client.get("/api/features/feat_nope/conversation.md", headers=AUTH).status_code == 404
