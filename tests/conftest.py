"""Shared fixtures: moto (fast unit tests) and the real local engine (integration).

``db`` is parametrized over both backends, so a store contract test written
once runs against moto and against dynalite. Each engine test gets its own
table prefix, so tests share one engine process but never each other's data.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from fastapi.testclient import TestClient
from moto import mock_aws

from api.app import create_app
from api.settings import Settings
from api.store.db import Db, ensure_tables
from infra.local_engine import LocalEngine
from tests.support.fake_model_fixtures import fake_model, start_claude  # noqa: F401 - shared
from tests.support.servers import ApiServer
from tests.support.store import tables_on

TOKEN = "test-operator-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def unique_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}-"


def moto_client() -> Any:
    """A DynamoDB client for moto (call it inside ``mock_aws()``)."""
    return boto3.client(
        "dynamodb",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def moto_db() -> Iterator[Db]:
    with mock_aws():
        db = Db(client=moto_client(), prefix="test-")
        ensure_tables(db)
        yield db


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEngine]:
    with LocalEngine(tmp_path_factory.mktemp("dynalite")) as running:
        yield running


def engine_settings(engine: LocalEngine, prefix: str, **overrides: object) -> Settings:
    return Settings(
        api_token=TOKEN,
        dynamodb_endpoint=engine.endpoint,
        table_prefix=prefix,
        **overrides,  # type: ignore[arg-type]
    )


def fresh_engine_db(engine: LocalEngine) -> Db:
    """Tables of their own (a fresh prefix) on ``engine``, created and ready."""
    return tables_on(engine.endpoint, unique_prefix())


def api_on(
    db: Db, *, endpoint: str, log_path: Path, env: dict[str, str] | None = None
) -> ApiServer:
    """An (unstarted) ``python -m api`` on ``db``'s tables at ``endpoint``, with the test token."""
    return ApiServer(endpoint=endpoint, prefix=db.prefix, token=TOKEN, log_path=log_path, env=env)


@pytest.fixture
def engine_db(engine: LocalEngine) -> Db:
    return fresh_engine_db(engine)


@pytest.fixture(params=["moto", pytest.param("engine", marks=pytest.mark.engine)])
def db(request: pytest.FixtureRequest) -> Db:
    """The store contract's backend: moto, then the real local engine."""
    fixture: Db = request.getfixturevalue(f"{request.param}_db")
    return fixture


@pytest.fixture
def settings() -> Settings:
    return Settings(api_token=TOKEN, table_prefix="test-")


@pytest.fixture
def client(moto_db: Db, settings: Settings) -> Iterator[TestClient]:
    """The API in-process over moto, with no background services."""
    app = create_app(settings, moto_db, service_factories=())
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def artifacts_dir() -> Path:
    path = Path(__file__).resolve().parent.parent / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path
