"""The feature conversation over real HTTP with the demo pipeline: withdraw, ended, the stream.

To withdraw a message *before* any delivery without racing the monitor (it hands
pending messages to the running step's inbox every 0.1 s), the pipeline's owner
is frozen (SIGSTOP) while a second API process, whose slow monitor never takes
the feature over, takes the POSTs and the DELETE. The owner then resumes and is
restarted; every later step's ``OMAKASE_USER_MESSAGES`` (what the demo agent
records) and ``CLAUDE.md`` must hold the kept message and never the withdrawn one.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from api.agents.home import AgentHome
from api.store.db import Db
from infra.local_engine import LocalEngine
from tests.api.agents.conftest import Agents, server_for, wait_for
from tests.conftest import fresh_engine_db
from tests.support.servers import ApiServer
from tests.support.sse import blocks

pytestmark = pytest.mark.engine

#: The second process's monitor: slow, so its stale threshold (6 intervals) is never reached.
IDLE_MONITOR_SECONDS = "60"


@pytest.fixture
def fresh_db(engine: LocalEngine) -> Db:
    return fresh_engine_db(engine)


def post(server: ApiServer, feature_id: str, content: str) -> dict[str, Any]:
    with server.client() as client:
        response = client.post(f"/api/features/{feature_id}/messages", json={"content": content})
    assert response.status_code == 201, response.text
    return dict(response.json())


def withdraw(server: ApiServer, message: dict[str, Any]) -> Any:
    with server.client() as client:
        return client.delete(f"/api/agent-runs/{message['runId']}/messages/{message['id']}")


def feature_stream(server: ApiServer, feature_id: str) -> list[dict[str, Any]]:
    with (
        server.client() as client,
        client.stream("GET", f"/api/features/{feature_id}/messages/stream") as response,
    ):
        assert response.status_code == 200
        seen: list[dict[str, Any]] = []
        for block in blocks(response):
            if block.event == "close":
                assert block.json() == {"status": "passing"}
                return seen
            if block.is_message:
                seen.append(block.json())
    raise AssertionError("the feature stream ended without a close event")


def test_a_withdrawn_message_never_reaches_a_step_and_an_ended_feature_refuses(
    engine: LocalEngine, fresh_db: Db, tmp_path: Path
) -> None:
    workspaces = tmp_path / "workspaces"
    for folder in ("owner", "other", "restarted"):
        (tmp_path / folder).mkdir()
    owner = server_for(fresh_db, engine, tmp_path / "owner", workspaces).start()
    other: ApiServer | None = None
    try:
        agents = Agents(owner, workspaces)
        feature = agents.new_feature("[hold-once-coder]")
        coder = agents.wait_active(feature, "coder")
        wait_for(lambda: "2-1" in agents.received(feature), "the coder process to start")
        other = server_for(
            fresh_db,
            engine,
            tmp_path / "other",
            workspaces,
            OMAKASE_MONITOR_INTERVAL_SECONDS=IDLE_MONITOR_SECONDS,
        ).start()
        assert owner.process is not None
        owner.process.send_signal(signal.SIGSTOP)  # nobody can deliver now
        try:
            kept = post(other, feature["id"], "Keep sessions in SQLite")
            gone = post(other, feature["id"], "Actually use Redis")
            assert (kept["runId"], kept["mode"], gone["runId"]) == (
                coder["id"],
                "steer",
                coder["id"],
            )
            assert withdraw(other, gone).status_code == 204
            again = withdraw(other, gone)
            assert again.status_code == 409
            assert again.json()["detail"].endswith("it was already withdrawn.")
        finally:
            owner.process.send_signal(signal.SIGCONT)
        other.stop()
        other = None

        def kept_delivered() -> bool:
            [stored] = [m for m in agents.messages(coder["id"]) if m["id"] == kept["id"]]
            return bool(stored["receipt"]["state"] == "delivered")

        wait_for(kept_delivered, "the kept message's inbox delivery")
    finally:
        owner.stop()
        if other is not None:
            other.stop()
    restarted = server_for(fresh_db, engine, tmp_path / "restarted", workspaces).start()
    try:
        agents = Agents(restarted, workspaces)
        assert agents.wait_finished(feature)["status"] == "passing"
        received = agents.received(feature)
        assert set(received) == {"1-1", "2-1", "2-2", "3-1", "4-1"}
        for key, step in received.items():
            assert gone["id"] not in [m["id"] for m in step["userMessages"]], key
            assert gone["id"] not in [m["id"] for m in step["inboxMessages"]], key
            assert gone["content"] not in step["claudeSection"], key
        assert [m["id"] for m in received["2-2"]["userMessages"]] == [kept["id"]]
        assert kept["content"] in received["4-1"]["claudeSection"]
        home = AgentHome.of(workspaces / feature["id"])
        assert gone["content"] not in home.guidance.read_text()
        assert kept["content"] in home.guidance.read_text()
        assert json.loads(home.user_messages.read_text()) == []  # the tester's

        late = withdraw(restarted, kept)
        assert late.status_code == 409
        assert late.json()["detail"].endswith("it was already delivered.")
        with restarted.client() as client:
            ended = client.post(f"/api/features/{feature['id']}/messages", json={"content": "hi"})
        assert ended.status_code == 409
        assert ended.json()["detail"] == (
            f"Feature {feature['id']} has ended (passing); its conversation is read-only."
        )

        # The feature stream: every run's thread (5 runs), in pipeline order, then close.
        runs = agents.runs(feature)
        assert len(runs) == 5
        streamed = feature_stream(restarted, feature["id"])
        assert streamed == [m for run in runs for m in agents.messages(run["id"])]
        [withdrawn] = [m for m in streamed if m["id"] == gone["id"]]
        assert withdrawn["receipt"]["state"] == "withdrawn"
        notices = [m for m in streamed if m.get("receiptFor") == gone["id"]]
        assert [(n["type"], n["receipt"]["state"]) for n in notices] == [("status", "withdrawn")]
    finally:
        restarted.stop()
