"""``maxConcurrency`` holds across API processes (issue 13 item 3).

Two real API processes watch one store; eight features wait in a project with
``maxConcurrency`` 2. A sampler reads every feature item (strongly consistent)
in passes; a feature seen in progress in two consecutive passes was in
progress for the whole gap between them (a status only moves forward), so the
features in both passes were in progress *at the same instant*: the sample
never overcounts. The peak of those samples must not exceed 2.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from api.store.admission import admitted
from api.store.claims import read_claim
from api.store.db import Db
from api.store.features import create_feature
from api.store.projects import create_project
from core.models import FeatureCreate, FeatureStatus, ProjectCreate
from infra.local_engine import LocalEngine
from tests.api.agents.conftest import Agents, server_for
from tests.conftest import fresh_engine_db

pytestmark = pytest.mark.engine

FEATURES = 8
MAX_CONCURRENCY = 2
#: Short steps keep the whole run quick; admission is what is under test.
STEP_SECONDS = "0.05"


def in_progress(db: Db, feature_ids: list[str]) -> set[str]:
    return {
        fid
        for fid in feature_ids
        if read_claim(db, feature_id=fid).feature.status is FeatureStatus.IN_PROGRESS
    }


def test_max_concurrency_holds_across_two_processes(engine: LocalEngine, tmp_path: Path) -> None:
    db = fresh_engine_db(engine)
    project = create_project(
        db, data=ProjectCreate(name="admission", max_concurrency=MAX_CONCURRENCY)
    )
    ids = [
        create_feature(db, project_id=project.id, data=FeatureCreate(name=f"feature {n}")).id
        for n in range(FEATURES)
    ]
    workspaces = tmp_path / "workspaces"
    env = {"OMAKASE_DEMO_STEP_SECONDS": STEP_SECONDS}
    servers = [server_for(db, engine, tmp_path / name, workspaces, **env) for name in "ab"]
    for name in "ab":
        (tmp_path / name).mkdir()
    peak: list[int] = [0]
    done = threading.Event()

    def sample() -> None:
        previous = in_progress(db, ids)
        while not done.is_set():
            current = in_progress(db, ids)
            peak[0] = max(peak[0], len(previous & current))
            previous = current

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        for server in servers:
            server.start()
        agents = Agents(servers[0], workspaces)
        finished = [agents.wait_finished({"id": fid}) for fid in ids]
    finally:
        done.set()
        sampler.join()
        for server in reversed(servers):
            server.stop()
    assert [f["status"] for f in finished] == ["passing"] * FEATURES
    assert 1 <= peak[0] <= MAX_CONCURRENCY, peak[0]
    assert admitted(db, project_id=project.id) == set()  # every slot was released
