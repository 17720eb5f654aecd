"""The claude runner when things go wrong: a failing CLI, a failed turn, an API restart mid-step.

Each test runs its own API process (they need their own settings, or stop it).
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from api.agents.home import AgentHome
from api.store.db import Db
from infra.local_engine import LocalEngine
from tests.api.agents.claude.conftest import (
    CLAUDE_TEST_TIMEOUT_S,
    CLAUDE_WAIT_S,
    claude_server_env,
    first,
    role_turn,
    wait_long,
)
from tests.api.agents.conftest import Agents, server_for
from tests.conftest import fresh_engine_db
from tests.support.fake_model import FakeModel
from tests.support.fake_model_script import Rule, Rules, bash

pytestmark = [pytest.mark.engine, pytest.mark.slow, pytest.mark.timeout(CLAUDE_TEST_TIMEOUT_S)]


@pytest.fixture
def fresh_db(engine: LocalEngine) -> Db:
    return fresh_engine_db(engine)


def test_a_cli_that_exits_non_zero_fails_the_step_once_retried(
    engine: LocalEngine, fresh_db: Db, model: FakeModel, tmp_path: Path
) -> None:
    broken = tmp_path / "broken-claude"
    broken.write_text("#!/bin/sh\necho 'no model configured' >&2\nexit 3\n")
    broken.chmod(broken.stat().st_mode | stat.S_IEXEC)
    env = claude_server_env(model, tmp_path / "home", OMAKASE_CLAUDE_BIN=str(broken))
    with server_for(fresh_db, engine, tmp_path, tmp_path / "ws", **env) as server:
        agents = Agents(server, tmp_path / "ws", CLAUDE_WAIT_S)
        feature = agents.new_feature("Anything.", name="Broken CLI")
        finished = agents.wait_finished(feature)
        runs = agents.runs(feature)
    assert finished["status"] == "failing"
    assert [(r["role"], r["attempt"], r["status"]) for r in runs] == [
        ("architect", 1, "failed"),
        ("architect", 2, "failed"),
    ]
    assert runs[0]["errorMessage"] == "Claude Code exited with code 3: no model configured"
    assert "failed step 1 (architect) 2 times" in finished["errorMessage"]


def test_a_turn_that_is_not_a_success_fails_the_step(
    engine: LocalEngine, fresh_db: Db, model: FakeModel, tmp_path: Path
) -> None:
    marker = "max-turns"
    model.responder = Rules(Rule(first(role_turn("coder", marker)), [bash("true")], times=None))
    env = claude_server_env(model, tmp_path / "home", OMAKASE_CLAUDE_ARGS="--max-turns 1")
    with server_for(fresh_db, engine, tmp_path, tmp_path / "ws", **env) as server:
        agents = Agents(server, tmp_path / "ws", CLAUDE_WAIT_S)
        feature = agents.new_feature("Anything.", name=f"Turns {marker}")
        finished = agents.wait_finished(feature)
        runs = agents.runs(feature)
    assert finished["status"] == "failing"
    assert [(r["role"], r["attempt"], r["status"]) for r in runs] == [
        ("architect", 1, "completed"),
        ("coder", 1, "failed"),
        ("coder", 2, "failed"),
    ]
    assert runs[1]["errorMessage"].startswith("Claude Code ended a turn with 'error_max_turns'")


def notices_for(agents: Agents, feature: dict[str, Any], message_id: str) -> list[str]:
    return [
        m["receipt"]["state"]
        for run in agents.runs(feature)
        for m in agents.messages(run["id"])
        if m.get("receiptFor") == message_id
    ]


def test_a_message_sent_but_not_taken_at_restart_reaches_the_next_attempt_once(
    engine: LocalEngine, fresh_db: Db, model: FakeModel, tmp_path: Path
) -> None:
    marker = "restart-mid-step"
    model.responder = Rules(Rule(first(role_turn("coder", marker)), [bash("sleep 40")]))
    workspaces = tmp_path / "ws"
    env = claude_server_env(model, tmp_path / "home")
    content = "Keep the API backwards compatible"
    with server_for(fresh_db, engine, tmp_path, workspaces, **env) as first_api:
        agents = Agents(first_api, workspaces, CLAUDE_WAIT_S)
        feature = agents.new_feature("Version the API.", name=f"Versioning {marker}")
        coder = agents.wait_active(feature, "coder")
        wait_long(lambda: agents_run_status(agents, coder["id"]) == "coding", "the coder's tool")
        with agents.http as client:
            posted = client.post(
                f"/api/agent-runs/{coder['id']}/messages", json={"content": content}
            )
        assert posted.status_code == 201
        message = posted.json()
        # Written to the agent, which holds it until its 40 s tool ends: sent, not taken.
        wait_long(
            lambda: notices_for(agents, feature, message["id"]) == ["sent"], "the sent receipt"
        )
    with server_for(fresh_db, engine, tmp_path, workspaces, **env) as second_api:
        agents = Agents(second_api, workspaces, CLAUDE_WAIT_S)
        finished = agents.wait_finished(feature)
        runs = agents.runs(feature)
        [stored] = [m for m in agents.messages(coder["id"]) if m["id"] == message["id"]]
        notices = notices_for(agents, feature, message["id"])
    assert finished["status"] == "passing", finished
    assert [(r["role"], r["attempt"], r["status"]) for r in runs] == [
        ("architect", 1, "completed"),
        ("coder", 1, "failed"),
        ("coder", 2, "completed"),
        ("reviewer", 1, "completed"),
        ("tester", 1, "completed"),
    ]
    retry = runs[2]
    # Delivered once, to the coder's next attempt, at its start: never lost, never twice.
    receipt = stored["receipt"]
    assert (receipt["state"], receipt["channel"], receipt["runId"]) == (
        "delivered",
        "relay",
        retry["id"],
    )
    assert notices == ["sent", "delivered"]
    relayed = AgentHome.of(workspaces / feature["id"]).user_messages.read_text()
    assert message["id"] not in relayed  # the last step's batch (the tester) did not get it again
    assert any(content in r.all_text for r in model.requests_containing(content))


def agents_run_status(agents: Agents, run_id: str) -> str:
    with agents.http as client:
        return str(client.get(f"/api/agent-runs/{run_id}").json()["status"])
