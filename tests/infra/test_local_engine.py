"""The local engine persists to disk: data survives a restart of the engine and of the API."""

from __future__ import annotations

import socket
import struct
import time
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
                "detail": "The store does not answer this API process; its log says why.",
            }
            listing = http.get("/api/projects")
            assert listing.status_code == 503
            assert listing.headers["Retry-After"] == "5"
            assert listing.json() == {
                "detail": "Could not list the projects: the DynamoDB store is unreachable."
            }
    finally:
        engine.stop()


def abort_mid_request(port: int) -> None:
    """A client that sends half a request and dies (connection reset)."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: local\r\nContent-Type: application/x-amz-json-1.0\r\n"
            b'X-Amz-Target: DynamoDB_20120810.ListTables\r\nContent-Length: 1000\r\n\r\n{"Li'
        )
        time.sleep(0.2)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def test_regression_engine_survives_a_client_dying_mid_request(tmp_path: Path) -> None:
    """dynalite rethrows an aborted request's error; a killed API process took it down."""
    with LocalEngine(tmp_path / "data") as engine:
        db = store_on(engine)
        abort_mid_request(engine.port)
        project = create_project(db, data=ProjectCreate(name="Still here"))
        assert get_project(db, project_id=project.id) == project
        assert engine.process is not None
        assert engine.process.poll() is None
