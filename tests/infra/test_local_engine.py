"""The local engine persists to disk: data survives a restart of the engine and of the API."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.settings import Settings
from api.store.db import Db, ensure_tables, make_client
from api.store.projects import create_project, get_project
from core.models import ProjectCreate
from infra.local_engine import LocalEngine, free_port
from tests.support.servers import ApiServer

pytestmark = pytest.mark.engine


def store_on(engine: LocalEngine) -> Db:
    db = Db(client=make_client(Settings(dynamodb_endpoint=engine.endpoint)), prefix="persist-")
    ensure_tables(db)
    return db


def test_data_survives_an_engine_restart(tmp_path: Path) -> None:
    port = free_port()
    with LocalEngine(tmp_path / "data", port) as engine:
        project = create_project(store_on(engine), data=ProjectCreate(name="Kept"))
    with LocalEngine(tmp_path / "data", port) as engine:
        assert get_project(store_on(engine), project_id=project.id) == project


def test_data_survives_an_api_and_engine_restart(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "api.log"
    with (
        LocalEngine(tmp_path / "data", port) as engine,
        ApiServer(endpoint=engine.endpoint, prefix="p-", token="t", log_path=log) as api,
        api.client() as http,
    ):
        created = http.post("/api/projects", json={"name": "Survivor"})
        assert created.status_code == 201
    with (
        LocalEngine(tmp_path / "data", port) as engine,
        ApiServer(endpoint=engine.endpoint, prefix="p-", token="t", log_path=log) as api,
        api.client() as http,
    ):
        fetched = http.get(f"/api/projects/{created.json()['id']}")
        assert fetched.status_code == 200
        assert fetched.json() == created.json()


def test_api_answers_503_while_the_engine_is_down(tmp_path: Path) -> None:
    engine = LocalEngine(tmp_path / "data").start()
    try:
        with (
            ApiServer(
                endpoint=engine.endpoint, prefix="d-", token="t", log_path=tmp_path / "a.log"
            ) as api,
            api.client() as http,
        ):
            engine.kill()
            health = http.get("/healthz")
            assert health.status_code == 503
            assert health.json() == {
                "status": "unavailable",
                "detail": "Could not reach the store: the DynamoDB store is unreachable.",
            }
            listing = http.get("/api/projects")
            assert listing.status_code == 503
            assert listing.headers["Retry-After"] == "5"
            assert listing.json() == {
                "detail": "Could not list the projects: the DynamoDB store is unreachable."
            }
    finally:
        engine.stop()
