"""DynamoDB failures become domain errors with clear sentences; retries are 'standard'."""

from __future__ import annotations

import pytest
from botocore.stub import Stubber

from api.settings import Settings
from api.store.db import Db, make_client, ping
from api.store.errors import ConditionFailed, StoreUnavailableError
from api.store.projects import get_project
from api.store.runs import create_run
from core.models import AgentRunCreate, AgentRunRole
from infra.local_engine import free_port


def test_client_uses_standard_retry_mode() -> None:
    client = make_client(Settings(dynamodb_endpoint="http://127.0.0.1:1"))
    retries = client.meta.config.retries  # type: ignore[attr-defined]
    assert retries == {"mode": "standard", "total_max_attempts": 3}


def test_unreachable_store_is_store_unavailable() -> None:
    settings = Settings(dynamodb_endpoint=f"http://127.0.0.1:{free_port()}")
    db = Db(client=make_client(settings), prefix="x-")
    with pytest.raises(
        StoreUnavailableError,
        match=r"^Could not read the project: the DynamoDB store is "
        r"unreachable\.$",
    ):
        get_project(db, project_id="prj_1")


def test_missing_table_is_store_unavailable(moto_db: Db) -> None:
    db = Db(client=moto_db.client, prefix="nothing-here-")
    with pytest.raises(StoreUnavailableError, match="a table is missing"):
        ping(db)


def test_throttling_after_retries_is_store_unavailable(moto_db: Db) -> None:
    with Stubber(moto_db.client) as stub:
        stub.add_client_error(
            "get_item", service_error_code="ProvisionedThroughputExceededException"
        )
        with pytest.raises(
            StoreUnavailableError,
            match=r"^Could not read the project: the store is throttling requests; "
            r"try again shortly\.$",
        ):
            get_project(moto_db, project_id="prj_1")


def test_conditional_check_failure_is_condition_failed(moto_db: Db) -> None:
    with Stubber(moto_db.client) as stub:
        stub.add_client_error("put_item", service_error_code="ConditionalCheckFailedException")
        with pytest.raises(ConditionFailed, match="a concurrent write got there first"):
            create_run(
                moto_db,
                data=AgentRunCreate(project_id="p", feature_id="f", role=AgentRunRole.CODER),
            )
