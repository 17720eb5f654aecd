"""The claude runner end to end: ``python -m api`` running the real Claude Code CLI per step.

The CLI is the pinned one (infra/claude_code), talking to the scripted model
server of ``tests.support.fake_model`` on loopback: no network, no key. Each
test scripts the model with ``Rules`` keyed by a marker in its feature's name,
so tests sharing the module's API process never answer each other's requests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from api.store.db import Db, ensure_tables, make_client
from infra.claude_cli import default_claude_bin
from infra.local_engine import LocalEngine
from tests.api.agents.conftest import Agents, server_for, wait_for
from tests.conftest import engine_settings, unique_prefix
from tests.support.claude_session import claude_env
from tests.support.fake_model import FakeModel
from tests.support.fake_model_script import ModelRequest, Predicate

T = TypeVar("T")

#: Longest wait for a claude pipeline milestone: each step starts a CLI (~1-4 s on a
#: loaded machine) and a pipeline has up to six steps.
CLAUDE_WAIT_S = 300.0
#: A claude test's own timeout (pytest-timeout's default of 120 s is for quick tests).
CLAUDE_TEST_TIMEOUT_S = 900
#: Monitor period of the claude API process (steps end on their own; this is the fallback).
MONITOR_SECONDS = "0.2"


def claude_server_env(model: FakeModel, home: Path, **extra: str) -> dict[str, str]:
    env = claude_env(model, home)
    return {
        "OMAKASE_RUNNER": "claude",
        "OMAKASE_MONITOR_INTERVAL_SECONDS": MONITOR_SECONDS,
        **{k: v for k, v in env.items() if k.startswith(("ANTHROPIC_", "CLAUDE", "DISABLE_"))},
        "HOME": env["HOME"],
        **extra,
    }


@pytest.fixture(scope="module")
def model() -> Iterator[FakeModel]:
    if not Path(default_claude_bin()).exists():
        pytest.fail("the pinned Claude Code CLI is missing: run `make setup` (npm ci)")
    with FakeModel() as running:
        yield running
    assert not running.errors, f"the scripted model failed: {running.errors}"


@pytest.fixture(scope="module")
def claude_db(engine: LocalEngine) -> Db:
    """Tables of the claude API process alone: a demo API process on the same tables
    would claim (and run) the claude tests' features, and the other way round."""
    prefix = unique_prefix()
    db = Db(client=make_client(engine_settings(engine, prefix)), prefix=prefix)
    ensure_tables(db)
    return db


@pytest.fixture(scope="module")
def claude_agents(
    engine: LocalEngine, claude_db: Db, model: FakeModel, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Agents]:
    root = tmp_path_factory.mktemp("claude")
    env = claude_server_env(model, root / "home")
    server = server_for(claude_db, engine, root, root / "workspaces", **env).start()
    try:
        yield Agents(server=server, workspaces=root / "workspaces", timeout=CLAUDE_WAIT_S)
    finally:
        server.stop()


def role_turn(role: str, marker: str) -> Predicate:
    """A request of ``role``'s step for the feature named with ``marker``."""
    return lambda request: f"the **{role}**" in request.all_text and marker in request.all_text


def first(predicate: Predicate) -> Callable[[ModelRequest], bool]:
    """The first request of a turn that matches ``predicate``."""
    return lambda request: request.is_first_of_turn and predicate(request)


def wait_long(check: Callable[[], T | None], what: str) -> T:
    """``wait_for`` with the claude pipeline's longer deadline."""
    return wait_for(check, what, CLAUDE_WAIT_S)
