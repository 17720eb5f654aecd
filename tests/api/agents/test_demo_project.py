"""The demo project of ``make run``: created once on an empty store, and its agents start."""

from __future__ import annotations

from pathlib import Path

import pygit2
import pytest
from fastapi.testclient import TestClient

from api.agents.demo_project import (
    DEMO_ENCORES,
    DEMO_FEATURES,
    DEMO_PROJECT,
    seed_demo_project,
    top_up,
)
from infra.local_engine import LocalEngine
from tests.api.agents.conftest import Agents, server_for, wait_for
from tests.conftest import AUTH, TOKEN, fresh_engine_db
from tests.support.http import as_httpx


@pytest.mark.engine
def test_demo_project_is_created_once_and_starts_moving(
    engine: LocalEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OMAKASE_RUNNER", raising=False)
    db = fresh_engine_db(engine)
    server = server_for(db, engine, tmp_path, tmp_path / "workspaces").start()
    try:
        repository = tmp_path / "demo-repo"
        project = seed_demo_project(server.url, TOKEN, repository=repository)
        assert project is not None
        assert seed_demo_project(server.url, TOKEN) is None  # a project exists: no second demo
        # A real repository, made on the first start: the project points at it.
        assert (project["repository"], project["baseBranch"]) == (str(repository), "main")
        made = pygit2.Repository(str(repository))
        assert made.head.shorthand == "main"
        assert made.head.peel(pygit2.Commit).tree["ramen/menu.py"].type_str == "blob"
        agents = Agents(server, tmp_path / "workspaces")
        with agents.http as client:
            features = client.get(f"/api/projects/{project['id']}/features").json()
            assert [f["name"] for f in features] == [name for name, *_ in DEMO_FEATURES]
            by_name = {f["name"]: f for f in features}
            assert by_name["Kitchen display"]["dependencies"] == [by_name["Order API"]["id"]]

            def agents_at_work() -> bool:
                team = client.get(f"/api/projects/{project['id']}/agents").json()
                return any(a["status"] == "running" for a in team)

            wait_for(agents_at_work, "a running agent in the demo project")
    finally:
        server.stop()


def test_no_demo_with_a_real_agent_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMAKASE_RUNNER", "command")
    assert seed_demo_project("http://127.0.0.1:9", TOKEN) is None


def test_an_unreachable_api_is_a_warning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OMAKASE_RUNNER", raising=False)
    assert seed_demo_project("http://127.0.0.1:9", TOKEN) is None
    assert "could not create the demo project" in capsys.readouterr().err


def test_idle_demo_project_gets_an_encore_feature(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once every demo feature has finished, `make run` adds one more, one at a time."""
    monkeypatch.delenv("OMAKASE_RUNNER", raising=False)
    client.headers.update(AUTH)
    project = client.post("/api/projects", json=DEMO_PROJECT).json()
    assert top_up(as_httpx(client)) == DEMO_ENCORES[0][0]
    features = client.get(f"/api/projects/{project['id']}/features").json()
    assert [(f["name"], f["status"]) for f in features] == [(DEMO_ENCORES[0][0], "pending")]
    assert top_up(as_httpx(client)) is None  # the encore is still pending: nothing more


def test_no_encore_for_other_projects(client: TestClient) -> None:
    client.headers.update(AUTH)
    client.post("/api/projects", json={"name": "Mine"})
    assert top_up(as_httpx(client)) is None
