"""Real HTTP fixtures for the stream: one engine store per module, API processes on it.

The processes are module-scoped (a cold start is ~1-2 s); every test makes its own
run, so tests never see each other's messages.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from api.store.db import Db
from api.store.runs import create_run
from core.models import AgentRun, AgentRunCreate, AgentRunRole
from infra.local_engine import LocalEngine
from tests.conftest import api_on, fresh_engine_db
from tests.support.servers import ApiServer

#: Keep-alive period of the test servers: short, so the keep-alive test is quick.
TEST_PING_SECONDS = "0.3"


@pytest.fixture(scope="module")
def stream_db(engine: LocalEngine) -> Db:
    return fresh_engine_db(engine)


def start_api(engine: LocalEngine, db: Db, log_dir: Path, name: str, **env: str) -> ApiServer:
    return api_on(
        db,
        endpoint=engine.endpoint,
        log_path=log_dir / f"{name}.log",
        env={"OMAKASE_STREAM_PING_SECONDS": TEST_PING_SECONDS, **env},
    ).start()


@pytest.fixture(scope="module")
def api(
    engine: LocalEngine, stream_db: Db, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    server = start_api(engine, stream_db, tmp_path_factory.mktemp("api"), "api-a")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def api_b(
    engine: LocalEngine, stream_db: Db, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """A second API process on the same store (writes it makes reach ``api`` by its poll)."""
    server = start_api(engine, stream_db, tmp_path_factory.mktemp("api"), "api-b")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def run(stream_db: Db) -> AgentRun:
    return create_run(
        stream_db,
        data=AgentRunCreate(project_id="prj_test", feature_id="feat_test", role=AgentRunRole.CODER),
    )
