"""Store faults injected under the API: retried, or reported as a 503 — never swallowed.

Faults are injected per HTTP attempt with a ``before-send`` hook on the very
boto3 client the app uses — built by ``make_client`` with the production
config, so botocore's own retry policy (``standard`` mode,
``DYNAMODB_MAX_ATTEMPTS`` = 3 attempts in total) sees them exactly as it would
see DynamoDB's answers. botocore asks *every* ``before-send`` handler and takes
the first answer, so a pure fault also steers the request away from moto's
responder (which would otherwise commit it: that is the "lost response" case,
done on purpose below). The backoff sleep is patched to zero (its computed
value is recorded) so the suite stays fast.

Paths under test: the message append (``PutItem`` of ``POST …/messages``) and the
status update (``UpdateItem`` of ``PATCH /api/agent-runs/{id}``). The "lost
response" cases are the nasty ones: the first attempt commits, its answer is
lost (a 500 / timeout), botocore retries, and the retry meets the condition its
own first attempt made false.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.retries.standard import ExponentialBackoff
from fastapi.testclient import TestClient
from moto import mock_aws

from api.app import create_app
from api.settings import DYNAMODB_MAX_ATTEMPTS, Settings
from api.store.db import Db, ensure_tables, make_client
from api.store.messages import list_messages
from api.store.runs import get_run
from core.models import AgentRunStatus, MessageType
from tests.conftest import AUTH, TOKEN, moto_client
from tests.reliability.conftest import seed_run

THROTTLED = "ProvisionedThroughputExceededException"
THROTTLING = "ThrottlingException"
CONDITION_FAILED = "ConditionalCheckFailedException"
INTERNAL = "InternalServerError"
NOWHERE = "https://fault-injected.invalid/"


@pytest.fixture
def fault_db(monkeypatch: pytest.MonkeyPatch) -> Iterator[Db]:
    """Moto behind a client made exactly as production makes it (retry config included)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        settings = Settings(api_token=TOKEN, table_prefix="faults-")
        db = Db(client=make_client(settings), prefix=settings.table_prefix)
        ensure_tables(db)
        yield db


@pytest.fixture
def client(fault_db: Db) -> Iterator[TestClient]:
    app = create_app(
        Settings(api_token=TOKEN, table_prefix="faults-"), fault_db, service_factories=()
    )
    with TestClient(app) as test_client:
        yield test_client


class _RawBody:
    """The minimal file-like body ``AWSResponse`` reads."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body

    def read(self, *_: Any) -> bytes:
        body, self._body = self._body, b""
        return body


def error_response(request: AWSPreparedRequest, code: str, status: int = 400) -> AWSResponse:
    body = json.dumps(
        {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": f"injected {code}"}
    ).encode()
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "injected"}
    return AWSResponse(request.url, status, headers, _RawBody(body))  # type: ignore[arg-type]


@dataclass
class Injector:
    """Answers the next attempts of one operation with faults, then lets them through."""

    db: Db
    operation: str
    faults: list[str] = field(default_factory=list)
    #: The faulted attempt still reaches the store and commits: only its answer is lost.
    lost_response: bool = False
    attempts: int = 0

    def __call__(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        self.attempts += 1
        if not self.faults:
            return None
        code = self.faults.pop(0)
        response = error_response(request, code, 500 if code == INTERNAL else 400)
        if not self.lost_response:
            request.url = NOWHERE  # moto's responder matches no route: nothing is written
        return response

    @property
    def event(self) -> str:
        return f"before-send.dynamodb.{self.operation}"

    def __enter__(self) -> Injector:
        self.db.client.meta.events.register_first(self.event, cast(Any, self))
        return self

    def __exit__(self, *_: object) -> None:
        self.db.client.meta.events.unregister(self.event, cast(Any, self))


@pytest.fixture
def backoffs(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays botocore's backoff computed (then skipped, so tests are fast)."""
    computed: list[float] = []
    real = ExponentialBackoff.delay_amount

    def no_sleep(self: ExponentialBackoff, context: Any) -> float:
        computed.append(real(self, context))
        return 0.0

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", no_sleep)
    return computed


def post(client: TestClient, run_id: str, content: str = "hello") -> Any:
    return client.post(
        f"/api/agent-runs/{run_id}/messages", json={"content": content}, headers=AUTH
    )


def patch(client: TestClient, run_id: str, status: str = "coding") -> Any:
    return client.patch(f"/api/agent-runs/{run_id}", json={"status": status}, headers=AUTH)


# --- the message append -----------------------------------------------------------------


@pytest.mark.parametrize("code", [THROTTLED, THROTTLING, INTERNAL])
def test_append_retries_a_busy_store(
    client: TestClient, fault_db: Db, backoffs: list[float], code: str
) -> None:
    run = seed_run(fault_db)
    with Injector(fault_db, "PutItem", [code] * (DYNAMODB_MAX_ATTEMPTS - 1)) as injector:
        response = post(client, run.id)
    assert response.status_code == 201
    assert injector.attempts == DYNAMODB_MAX_ATTEMPTS
    assert len(backoffs) == DYNAMODB_MAX_ATTEMPTS - 1
    assert [m.content for m in list_messages(fault_db, run_id=run.id)] == ["hello"]


@pytest.mark.parametrize("code", [THROTTLED, THROTTLING])
def test_append_reports_a_store_still_throttling_as_503(
    client: TestClient, fault_db: Db, backoffs: list[float], code: str
) -> None:
    run = seed_run(fault_db)
    with Injector(fault_db, "PutItem", [code] * DYNAMODB_MAX_ATTEMPTS) as injector:
        response = post(client, run.id)
    assert injector.attempts == DYNAMODB_MAX_ATTEMPTS  # three attempts, then give up
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.json() == {
        "detail": "Could not store the message: the store is throttling requests; "
        "try again shortly."
    }
    assert list_messages(fault_db, run_id=run.id) == []
    # Not swallowed, not stuck: the same POST goes through once the store recovers.
    assert post(client, run.id).status_code == 201
    assert len(list_messages(fault_db, run_id=run.id)) == 1


def test_throttling_backoff_is_the_throttling_scale(
    client: TestClient, fault_db: Db, backoffs: list[float]
) -> None:
    """Throttles back off on a 1 s scale (up to 1 s, then 2 s), not DynamoDB's 25 ms one."""
    run = seed_run(fault_db)
    with Injector(fault_db, "PutItem", [THROTTLED] * DYNAMODB_MAX_ATTEMPTS):
        post(client, run.id)
    assert len(backoffs) == DYNAMODB_MAX_ATTEMPTS - 1
    assert 0 <= backoffs[0] <= 1.0
    assert 0 <= backoffs[1] <= 2.0


def test_a_real_conflict_is_a_new_key_not_an_error(
    client: TestClient, fault_db: Db, backoffs: list[float]
) -> None:
    """Another writer takes the key first: the append learns the head and takes the next."""
    run = seed_run(fault_db)
    other = seed_run(fault_db)
    assert post(client, run.id, "first").status_code == 201
    # Another process commits key 2 behind this process's back (its head cache says 1).
    from api.store.messages import create_message
    from core.models import MessageSender

    shadow = Db(client=moto_client(), prefix=fault_db.prefix)
    create_message(
        shadow, run=get_run(shadow, run_id=run.id), sender=MessageSender.USER, content="x"
    )
    assert post(client, run.id, "third").status_code == 201
    stored = list_messages(fault_db, run_id=run.id)
    assert [(m.cursor[-1], m.content) for m in stored] == [
        ("1", "first"),
        ("2", "x"),
        ("3", "third"),
    ]
    assert list_messages(fault_db, run_id=other.id) == []


def test_regression_lost_put_response_does_not_duplicate_the_message(
    client: TestClient, fault_db: Db, backoffs: list[float]
) -> None:
    """First attempt commits, its answer is lost (500), the retry hits its own key."""
    run = seed_run(fault_db)
    with Injector(fault_db, "PutItem", [INTERNAL], lost_response=True) as injector:
        response = post(client, run.id, "only once")
    assert injector.attempts == 2
    assert response.status_code == 201
    stored = list_messages(fault_db, run_id=run.id)
    assert [m.content for m in stored] == ["only once"]
    assert response.json()["id"] == stored[0].id


def test_lost_put_response_with_a_client_id_stores_one_message(
    client: TestClient, fault_db: Db, backoffs: list[float]
) -> None:
    run = seed_run(fault_db)
    body = {"content": "idempotent", "id": "client-1"}
    with Injector(fault_db, "PutItem", [INTERNAL], lost_response=True):
        first = client.post(f"/api/agent-runs/{run.id}/messages", json=body, headers=AUTH)
    assert first.status_code in (200, 201)
    again = client.post(f"/api/agent-runs/{run.id}/messages", json=body, headers=AUTH)
    assert again.status_code == 200
    assert [m.id for m in list_messages(fault_db, run_id=run.id)] == ["client-1"]


# --- the status update ---------------------------------------------------------------------


def notices(db: Db, run_id: str) -> list[str]:
    return [
        m.content
        for m in list_messages(db, run_id=run_id)
        if m.type in (MessageType.STATUS, MessageType.ERROR)
    ]


@pytest.mark.parametrize("code", [THROTTLED, THROTTLING])
def test_status_update_retries_a_busy_store(
    client: TestClient, fault_db: Db, backoffs: list[float], code: str
) -> None:
    run = seed_run(fault_db)
    with Injector(fault_db, "UpdateItem", [code] * (DYNAMODB_MAX_ATTEMPTS - 1)) as injector:
        response = patch(client, run.id)
    assert injector.attempts == DYNAMODB_MAX_ATTEMPTS
    assert response.status_code == 200
    assert response.json()["status"] == "coding"
    assert notices(fault_db, run.id) == ["Started coding phase"]


def test_status_update_reports_a_store_still_throttling_as_503(
    client: TestClient, fault_db: Db, backoffs: list[float]
) -> None:
    run = seed_run(fault_db)
    with Injector(fault_db, "UpdateItem", [THROTTLED] * DYNAMODB_MAX_ATTEMPTS):
        response = patch(client, run.id)
    assert response.status_code == 503
    assert response.json() == {
        "detail": "Could not update the agent run status: the store is throttling requests; "
        "try again shortly."
    }
    assert get_run(fault_db, run_id=run.id).status is AgentRunStatus.STARTED
    assert notices(fault_db, run.id) == []
    # The agent's retry is the change, with its one notice.
    assert patch(client, run.id).status_code == 200
    assert notices(fault_db, run.id) == ["Started coding phase"]


def test_status_notice_throttled_is_503_not_swallowed(
    client: TestClient, fault_db: Db, backoffs: list[float]
) -> None:
    """The status changed but its notice could not be written: the caller hears about it."""
    run = seed_run(fault_db)
    with Injector(fault_db, "PutItem", [THROTTLED] * DYNAMODB_MAX_ATTEMPTS):
        response = patch(client, run.id)
    assert response.status_code == 503
    assert response.json()["detail"].startswith("Could not store the message:")


def test_regression_notice_lost_between_update_and_notice_is_posted_on_retry(
    client: TestClient, fault_db: Db, backoffs: list[float]
) -> None:
    """Was: the status changed, its notice failed (503), and the agent's retry — now "no
    change" — posted nothing: the thread never showed the phase."""
    run = seed_run(fault_db)
    with Injector(fault_db, "PutItem", [THROTTLED] * DYNAMODB_MAX_ATTEMPTS):
        assert patch(client, run.id).status_code == 503
    assert get_run(fault_db, run_id=run.id).status is AgentRunStatus.CODING
    assert notices(fault_db, run.id) == []
    assert patch(client, run.id).status_code == 200
    assert notices(fault_db, run.id) == ["Started coding phase"]
    assert patch(client, run.id).status_code == 200  # and never twice
    assert notices(fault_db, run.id) == ["Started coding phase"]


def test_regression_lost_status_update_response_still_posts_its_notice(
    client: TestClient, fault_db: Db, backoffs: list[float]
) -> None:
    """First attempt commits, its answer is lost, the retry finds the status already set."""
    run = seed_run(fault_db)
    with Injector(fault_db, "UpdateItem", [INTERNAL], lost_response=True) as injector:
        response = patch(client, run.id)
    assert injector.attempts == 2
    assert response.status_code == 200
    assert response.json()["status"] == "coding"
    assert notices(fault_db, run.id) == ["Started coding phase"]
