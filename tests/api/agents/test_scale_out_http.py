"""Two API processes on one store: every feature's pipeline runs in exactly one of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.store.claims import read_claim
from infra.local_engine import LocalEngine
from tests.api.agents.conftest import Agents, server_for
from tests.conftest import fresh_engine_db

pytestmark = pytest.mark.engine

FEATURES = 4


def test_each_feature_runs_once_across_two_processes(engine: LocalEngine, tmp_path: Path) -> None:
    db = fresh_engine_db(engine)
    workspaces = tmp_path / "workspaces"
    first = server_for(db, engine, tmp_path / "a", workspaces)
    second = server_for(db, engine, tmp_path / "b", workspaces)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first.start()
    try:
        second.start()
        agents = Agents(first, workspaces)
        with agents.http as client:
            project = client.post(
                "/api/projects", json={"name": "shared", "maxConcurrency": FEATURES}
            ).json()
            features = [
                client.post(
                    f"/api/projects/{project['id']}/features", json={"name": f"feature {n}"}
                ).json()
                for n in range(FEATURES)
            ]
        for feature in features:
            assert agents.wait_finished(feature)["status"] == "passing"
            runs = agents.runs(feature)
            assert [(r["step"], r["role"], r["attempt"]) for r in runs] == [
                (1, "architect", 1),
                (2, "coder", 1),
                (3, "reviewer", 1),
                (4, "tester", 1),
            ]
            assert read_claim(db, feature_id=feature["id"]).owner_id is None
        logs = (tmp_path / "a" / "api.log").read_text() + (tmp_path / "b" / "api.log").read_text()
        finished = [line for line in logs.splitlines() if "finished: passing" in line]
        assert sorted(line.split("feature ")[1].split(" ")[0] for line in finished) == sorted(
            f["id"] for f in features
        )
    finally:
        second.stop()
        first.stop()
