""" "Start now" respects maxConcurrency across API processes, or overrides it explicitly.

Two ``python -m api`` processes on the same tables: one runs a feature (its
watcher admitted it), the other is asked to start a second feature of the same
project (``maxConcurrency`` 1). It answers 409 with a sentence — the feature
stays pending and waits its turn — until the person overrides; then it starts,
recorded as ``startedOverLimit`` on the feature.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from api.store.db import Db
from infra.local_engine import LocalEngine
from tests.api.agents.conftest import Agents, server_for
from tests.support.servers import ApiServer


@pytest.fixture
def second_api(engine: LocalEngine, agents_db: Db, tmp_path: Path) -> Iterator[ApiServer]:
    """Another API process on the module's tables (it runs pipelines too)."""
    server = server_for(agents_db, engine, tmp_path, tmp_path / "workspaces").start()
    try:
        yield server
    finally:
        server.stop()


def test_start_now_waits_its_turn_on_a_full_project_unless_overridden(
    agents: Agents, second_api: ApiServer
) -> None:
    with agents.http as client:
        project = client.post("/api/projects", json={"name": "One at a time", "maxConcurrency": 1})
        project_id = project.json()["id"]
        running = client.post(
            f"/api/projects/{project_id}/features",
            json={"name": "Runs", "description": "[hold-architect]"},
        ).json()
        architect = agents.wait_active(running, "architect")  # the watcher admitted it
        waiting = client.post(f"/api/projects/{project_id}/features", json={"name": "Waits"}).json()

    with second_api.client() as other:
        refused = other.post(f"/api/features/{waiting['id']}/start")
        assert refused.status_code == 409, refused.text
        detail = refused.json()["detail"]
        assert detail == (
            f"Project {project_id} already runs 1 of its 1 features at once (maxConcurrency): "
            f"feature {waiting['id']} waits its turn — it starts by itself when one of them "
            "ends, or start it past the limit with override=true."
        )
        assert other.get(f"/api/features/{waiting['id']}").json()["status"] == "pending"

        forced = other.post(f"/api/features/{waiting['id']}/start", json={"override": True})
        assert forced.status_code == 202, forced.text
        assert forced.json()["status"] == "in_progress"
        assert forced.json()["startedOverLimit"] is True

    with agents.http as client:
        seen = client.get(f"/api/features/{waiting['id']}").json()
        assert seen["startedOverLimit"] is True
        assert client.get(f"/api/features/{running['id']}").json()["startedOverLimit"] is False
        client.post(f"/api/agent-runs/{architect['id']}/cancel")
    assert agents.wait_finished(running)["status"] == "failing"
    assert agents.wait_finished(waiting)["status"] == "passing"
