"""Fixtures for the reliability suite: seeded runs on moto, API processes on the engine.

Moto tests are fast unit proofs (auth, fuzzing, injected store faults); the
``engine`` ones run real ``python -m api`` processes over HTTP on the local
engine, because streams, outages and restarts are what a user meets there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.auth import mint_agent_token
from api.store.db import Db
from api.store.features import create_feature
from api.store.projects import create_project
from api.store.runs import create_run
from core.models import AgentRun, AgentRunCreate, AgentRunRole, FeatureCreate, ProjectCreate
from infra.local_engine import LocalEngine
from tests.conftest import api_on, fresh_engine_db
from tests.support.servers import ApiServer

#: Keep-alive period of the test servers: short, so a dead stream is noticed quickly.
TEST_PING_SECONDS = "0.5"


def seed_run(db: Db, role: AgentRunRole = AgentRunRole.CODER) -> AgentRun:
    """A project, a feature and one active run of it, straight in the store."""
    project = create_project(db, data=ProjectCreate(name="Reliability"))
    feature = create_feature(db, project_id=project.id, data=FeatureCreate(name="Proofs"))
    return create_run(
        db, data=AgentRunCreate(project_id=project.id, feature_id=feature.id, role=role)
    )


def agent_headers(client: TestClient, run_id: str) -> dict[str, str]:
    secret: bytes = client.app.state.runtime.agent_secret  # type: ignore[attr-defined]
    return {"Authorization": f"Bearer {mint_agent_token(secret, run_id)}"}


def api_server(endpoint: str, db: Db, log_dir: Path, name: str, **env: str) -> ApiServer:
    """An (unstarted) ``python -m api`` on ``db``'s tables, without the feature watcher."""
    return api_on(
        db,
        endpoint=endpoint,
        log_path=log_dir / f"{name}.log",
        env={
            "OMAKASE_STREAM_PING_SECONDS": TEST_PING_SECONDS,
            "OMAKASE_AUTO_START_FEATURES": "false",
            **env,
        },
    )


@pytest.fixture(scope="module")
def rel_db(engine: LocalEngine) -> Db:
    """Tables of their own on the session engine, for this module."""
    return fresh_engine_db(engine)


@pytest.fixture(scope="module")
def rel_api(
    engine: LocalEngine, rel_db: Db, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    server = api_server(engine.endpoint, rel_db, tmp_path_factory.mktemp("api"), "api").start()
    try:
        yield server
    finally:
        server.stop()
