"""The codex runner when things go wrong: a broken CLI, an API restart mid-step.

Each test runs its own API process (they need their own settings, or stop it).
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from api.store.db import Db
from infra.local_engine import LocalEngine
from tests.api.agents.codex.conftest import (
    CODEX_TEST_TIMEOUT_S,
    CODEX_WAIT_S,
    codex_server_env,
    notices,
    opening,
    post,
    run_of,
    wait_long,
)
from tests.api.agents.conftest import Agents, server_for
from tests.conftest import fresh_engine_db
from tests.support.fake_responses import FakeResponses
from tests.support.fake_responses_script import Rule, Rules, shell

pytestmark = [pytest.mark.engine, pytest.mark.slow, pytest.mark.timeout(CODEX_TEST_TIMEOUT_S)]


@pytest.fixture
def fresh_db(engine: LocalEngine) -> Db:
    return fresh_engine_db(engine)


def test_a_broken_cli_fails_the_step_with_its_stderr_once_retried(
    engine: LocalEngine, fresh_db: Db, model: FakeResponses, tmp_path: Path
) -> None:
    broken = tmp_path / "broken-codex"
    broken.write_text("#!/bin/sh\necho 'codex: no provider configured' >&2\nexit 3\n")
    broken.chmod(broken.stat().st_mode | stat.S_IEXEC)
    env = codex_server_env(model, tmp_path, OMAKASE_CODEX_BIN=str(broken))
    with server_for(fresh_db, engine, tmp_path, tmp_path / "ws", **env) as server:
        agents = Agents(server, tmp_path / "ws", CODEX_WAIT_S)
        feature = agents.new_feature("Anything.", name="Broken codex")
        finished = agents.wait_finished(feature)
        runs = agents.runs(feature)
    assert finished["status"] == "failing"
    assert [(r["role"], r["attempt"], r["status"]) for r in runs] == [
        ("architect", 1, "failed"),
        ("architect", 2, "failed"),
    ]
    assert runs[0]["errorMessage"] == "Codex exited with code 3: codex: no provider configured"
    assert "failed step 1 (architect) 2 times" in finished["errorMessage"]


def test_a_message_sent_but_not_taken_at_restart_reaches_the_next_attempt_once(
    engine: LocalEngine, fresh_db: Db, model: FakeResponses, tmp_path: Path
) -> None:
    marker = "codex-restart"
    model.responder = Rules(Rule(opening("coder", marker), [shell("sleep 40")]))
    workspaces = tmp_path / "ws"
    env = codex_server_env(model, tmp_path)
    content = "Keep the API backwards compatible"
    with server_for(fresh_db, engine, tmp_path, workspaces, **env) as first_api:
        agents = Agents(first_api, workspaces, CODEX_WAIT_S)
        feature = agents.new_feature("Version the API.", name=f"Versioning {marker}")
        coder = agents.wait_active(feature, "coder")
        wait_long(lambda: run_of(agents, coder["id"])["status"] == "coding", "the command")
        message = post(agents, coder["id"], content)
        # Steered into the turn, which holds it until its 40 s command ends: sent, not taken.
        wait_long(lambda: notices(agents, coder["id"], message["id"]) == ["sent"], "sent")
    with server_for(fresh_db, engine, tmp_path, workspaces, **env) as second_api:
        agents = Agents(second_api, workspaces, CODEX_WAIT_S)
        finished = agents.wait_finished(feature)
        runs = agents.runs(feature)
        [stored] = [m for m in agents.messages(coder["id"]) if m["id"] == message["id"]]
        all_notices = [
            m["receipt"]["state"]
            for run in runs
            for m in agents.messages(run["id"])
            if m.get("receiptFor") == message["id"]
        ]
    assert finished["status"] == "passing", finished
    assert [(r["role"], r["attempt"], r["status"]) for r in runs] == [
        ("architect", 1, "completed"),
        ("coder", 1, "failed"),
        ("coder", 2, "completed"),
        ("reviewer", 1, "completed"),
        ("tester", 1, "completed"),
    ]
    retry = runs[2]
    receipt = stored["receipt"]
    assert (receipt["state"], receipt["channel"], receipt["runId"]) == (
        "delivered",
        "relay",
        retry["id"],
    )
    assert all_notices == ["sent", "delivered"]
    # The retry's codex heard it: the feature's guidance is its AGENTS.md (in CODEX_HOME).
    heard = [r for r in model.requests if content in r.all_text]
    assert any("the **coder**" in r.first_prompt for r in heard)
    assert not (workspaces / feature["id"] / "AGENTS.md").exists()
