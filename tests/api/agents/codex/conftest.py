"""The codex runner end to end: ``python -m api`` running the real codex CLI per step.

The CLI is the pinned one (infra/codex) — hard-linked under /tmp, so every test
here also proves that a CLI installed there runs in the step sandbox — talking
to the scripted Responses API of ``tests.support.fake_responses`` on loopback:
no network, no key. Tests script the model with ``Rules`` keyed by a marker in
their feature's name, so tests sharing the module's API process never answer
each other's requests.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from api.store.db import Db
from infra.codex_cli import PINNED_CODEX_BIN
from infra.local_engine import LocalEngine
from tests.api.agents.conftest import Agents, server_for, wait_for
from tests.conftest import fresh_engine_db
from tests.support.codex_cli import codex_args, installed_under_tmp
from tests.support.fake_responses import FakeResponses
from tests.support.fake_responses_script import ResponsesRequest

#: Longest wait for a codex pipeline milestone (a step starts a CLI: ~0.3-2 s).
CODEX_WAIT_S = 180.0
#: A codex test's own timeout.
CODEX_TEST_TIMEOUT_S = 600
MONITOR_SECONDS = "0.2"
#: What the fake sign-in holds (the step may read it, never change it).
FAKE_AUTH = '{"OPENAI_API_KEY": null, "note": "the person\'s sign-in"}\n'


def codex_server_env(model: FakeResponses, root: Path, **extra: str) -> dict[str, str]:
    """The API's environment: the codex runner, the scripted provider, a person's sign-in."""
    person = root / "person-codex-home"
    person.mkdir(parents=True, exist_ok=True)
    (person / "auth.json").write_text(FAKE_AUTH)
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    return {
        "OMAKASE_RUNNER": "codex",
        "OMAKASE_MONITOR_INTERVAL_SECONDS": MONITOR_SECONDS,
        "OMAKASE_CODEX_BIN": str(cli_under_tmp()),
        "OMAKASE_CODEX_ARGS": codex_args(model),
        "OPENAI_API_KEY": "test",
        "CODEX_HOME": str(person),
        "HOME": str(home),
        **extra,
    }


def cli_under_tmp() -> Path:
    if not PINNED_CODEX_BIN.exists():
        pytest.fail("the pinned codex CLI is missing: run `make setup` (npm ci)")
    folder = Path(tempfile.gettempdir()) / "omakase-test-codex-cli"
    return installed_under_tmp(PINNED_CODEX_BIN, folder)


@pytest.fixture(scope="module")
def model() -> Iterator[FakeResponses]:
    with FakeResponses() as running:
        yield running
    assert not running.errors, f"the scripted model failed: {running.errors}"


@pytest.fixture(scope="module")
def codex_db(engine: LocalEngine) -> Db:
    return fresh_engine_db(engine)


@pytest.fixture(scope="module")
def codex_agents(
    engine: LocalEngine,
    codex_db: Db,
    model: FakeResponses,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Agents]:
    root = tmp_path_factory.mktemp("codex")
    env = codex_server_env(model, root)
    server = server_for(codex_db, engine, root, root / "workspaces", **env).start()
    try:
        yield Agents(server=server, workspaces=root / "workspaces", timeout=CODEX_WAIT_S)
    finally:
        server.stop()


def role_turn(role: str, marker: str) -> Callable[[ResponsesRequest], bool]:
    """A request of ``role``'s step for the feature named with ``marker``."""
    return lambda r: f"the **{role}**" in r.first_prompt and marker in r.first_prompt


def opening(role: str, marker: str) -> Callable[[ResponsesRequest], bool]:
    """The first request of that step (nothing said or done yet but the role prompt)."""
    step = role_turn(role, marker)
    return lambda r: step(r) and len(r.user_texts()) == 1 and not r.calls_since_prompt


def wait_long(check: Callable[[], Any], what: str) -> Any:
    return wait_for(check, what, CODEX_WAIT_S)


def run_of(agents: Agents, run_id: str) -> dict[str, Any]:
    with agents.http as client:
        return dict(client.get(f"/api/agent-runs/{run_id}").json())


def post(agents: Agents, run_id: str, content: str, **extra: Any) -> dict[str, Any]:
    with agents.http as client:
        response = client.post(
            f"/api/agent-runs/{run_id}/messages", json={"content": content, **extra}
        )
    assert response.status_code == 201, response.text
    return dict(response.json())


def logs(agents: Agents, run_id: str) -> list[str]:
    with agents.http as client:
        return [line["line"] for line in client.get(f"/api/agent-runs/{run_id}/logs").json()]


def notices(agents: Agents, run_id: str, message_id: str) -> list[str]:
    return [
        m["receipt"]["state"] for m in agents.messages(run_id) if m.get("receiptFor") == message_id
    ]
