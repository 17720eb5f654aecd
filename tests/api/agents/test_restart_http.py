"""Restarts over real HTTP: a message pending at shutdown is relayed once; a dead owner is replaced.

Both tests stop the API while the coder step holds (``[hold-once-coder]``: the
first attempt waits until it is stopped), with a user message sent to the
coder already in its inbox but not yet relayed into a step's environment.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from api.store.db import Db
from infra.local_engine import LocalEngine
from tests.api.agents.conftest import Agents, server_for, wait_for
from tests.conftest import fresh_engine_db

pytestmark = pytest.mark.engine


@pytest.fixture
def fresh_db(engine: LocalEngine) -> Db:
    return fresh_engine_db(engine)


def hold_coder_with_a_pending_message(
    agents: Agents,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    feature = agents.new_feature("[hold-once-coder]")
    coder = agents.wait_active(feature, "coder")
    wait_for(lambda: "2-1" in agents.received(feature), "the coder process to start")
    with agents.http as client:
        posted = client.post(
            f"/api/agent-runs/{coder['id']}/messages", json={"content": "Use UTC timestamps"}
        )
    assert posted.status_code == 201, posted.text
    message = posted.json()

    def delivered_to_inbox() -> bool:
        [stored] = [m for m in agents.messages(coder["id"]) if m["id"] == message["id"]]
        return bool(stored["receipt"]["state"] == "delivered")

    wait_for(delivered_to_inbox, "the inbox delivery")
    return feature, coder, message


def assert_relayed_once(agents: Agents, feature: dict[str, Any], message: dict[str, Any]) -> None:
    received = agents.received(feature)
    relayed_to = [
        key for key, r in received.items() if message["id"] in [m["id"] for m in r["userMessages"]]
    ]
    assert relayed_to == ["2-2"]  # the coder's resumed attempt, and nobody else
    assert message["content"] in received["3-1"]["claudeSection"]
    assert message["content"] in received["4-1"]["claudeSection"]
    notices = [
        m
        for run in agents.runs(feature)
        for m in agents.messages(run["id"])
        if m.get("receiptFor") == message["id"]
    ]
    assert [n["content"] for n in notices] == ["📬 Delivered to Nori (coder, step 2) via the inbox"]


def test_a_message_pending_at_shutdown_is_relayed_once_after_restart(
    engine: LocalEngine, fresh_db: Db, tmp_path: Path
) -> None:
    workspaces = tmp_path / "workspaces"
    first = server_for(fresh_db, engine, tmp_path, workspaces).start()
    try:
        feature, coder, message = hold_coder_with_a_pending_message(Agents(first, workspaces))
    finally:
        first.stop()
    second = server_for(fresh_db, engine, tmp_path, workspaces).start()
    try:
        agents = Agents(second, workspaces)
        assert agents.wait_finished(feature)["status"] == "passing"
        runs = agents.runs(feature)
        assert [(r["role"], r["attempt"], r["status"]) for r in runs] == [
            ("architect", 1, "completed"),
            ("coder", 1, "failed"),
            ("coder", 2, "completed"),
            ("reviewer", 1, "completed"),
            ("tester", 1, "completed"),
        ]
        interrupted = (
            "Interrupted: the API process running this step stopped; "
            "the step runs again when the pipeline resumes."
        )
        assert runs[1]["errorMessage"] == interrupted
        errors = [m["content"] for m in agents.messages(coder["id"]) if m["type"] == "error"]
        assert errors == [f"Nori failed: {interrupted}"]
        assert_relayed_once(agents, feature, message)
    finally:
        second.stop()


def test_an_owner_that_stops_heartbeating_is_replaced_and_backs_off(
    engine: LocalEngine, fresh_db: Db, tmp_path: Path
) -> None:
    """The owner freezes (SIGSTOP: as dead, to the others), another process takes over.

    Frozen rather than killed: dynalite aborts when a client dies in the middle of a
    request, which would take the shared engine down (see docs/AGENTS.md). When the
    frozen owner wakes up, it must notice it lost the feature and stop its own step
    process without creating runs for a pipeline it no longer owns.
    """
    workspaces = tmp_path / "workspaces"
    first = server_for(fresh_db, engine, tmp_path, workspaces).start()
    second = None
    try:
        feature, _coder, message = hold_coder_with_a_pending_message(Agents(first, workspaces))
        assert first.process is not None
        first.process.send_signal(signal.SIGSTOP)
        second = server_for(fresh_db, engine, tmp_path, workspaces).start()
        agents = Agents(second, workspaces)
        wait_for(lambda: any(r["attempt"] == 2 for r in agents.runs(feature)), "the takeover")
        first.process.send_signal(signal.SIGCONT)
        assert agents.wait_finished(feature)["status"] == "passing"
        runs = agents.runs(feature)
        assert [(r["role"], r["attempt"], r["status"]) for r in runs] == [
            ("architect", 1, "completed"),
            ("coder", 1, "failed"),
            ("coder", 2, "completed"),
            ("reviewer", 1, "completed"),
            ("tester", 1, "completed"),
        ]
        error = runs[1]["errorMessage"]
        assert error.startswith("Interrupted: the API process running this step (worker wrk_")
        assert "stopped heartbeating for" in error
        assert error.endswith("the step runs again in another process.")
        assert_relayed_once(agents, feature, message)
    finally:
        if first.process is not None:
            first.process.send_signal(signal.SIGCONT)
        first.stop()
        if second is not None:
            second.stop()
