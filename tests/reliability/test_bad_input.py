"""Bad input is a 4xx with one sentence: never a 500, never a stack trace, never a hang.

Targeted cases next to the generated ones of ``test_fuzz_openapi.py``: content
one character over the limit, malformed cursors in every place a cursor is
accepted, unknown run ids, wrong content types, bytes that are not UTF-8, JSON
that is not an object, and bodies far over any sane size.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.body_limit import MAX_REQUEST_BODY_BYTES, TOO_LARGE_DETAIL
from api.errors import NOT_UTF8_DETAIL
from api.store.db import Db
from api.store.messages import list_messages
from core.models import MAX_MESSAGE_CHARS
from tests.conftest import AUTH
from tests.reliability.conftest import seed_run

NOT_AN_OBJECT = "The request body must be a JSON object (Content-Type: application/json)."
NOT_JSON = "The request body is not valid JSON."
JSON_HEADERS = {**AUTH, "Content-Type": "application/json"}
#: A detail is one sentence for a person, not an echo of whatever was sent.
MAX_DETAIL_CHARS = 300


def messages_url(run_id: str) -> str:
    return f"/api/agent-runs/{run_id}/messages"


def assert_sentence(response_json: object) -> str:
    assert isinstance(response_json, dict)
    assert set(response_json) == {"detail"}
    detail = response_json["detail"]
    assert isinstance(detail, str)
    assert detail.endswith(".")
    assert len(detail) <= MAX_DETAIL_CHARS
    return detail


def test_content_one_over_the_limit_is_422(client: TestClient, moto_db: Db) -> None:
    run = seed_run(moto_db)
    response = client.post(
        messages_url(run.id), json={"content": "x" * (MAX_MESSAGE_CHARS + 1)}, headers=AUTH
    )
    assert response.status_code == 422
    assert response.json() == {
        "detail": "Invalid body field 'content': Message content is 32,001 characters; "
        "the limit is 32,000 (put long output in the logs)."
    }
    at_limit = client.post(
        messages_url(run.id), json={"content": "x" * MAX_MESSAGE_CHARS}, headers=AUTH
    )
    assert at_limit.status_code == 201
    assert [len(m.content) for m in list_messages(moto_db, run_id=run.id)] == [MAX_MESSAGE_CHARS]


@pytest.mark.parametrize(
    "since", ["abc", "-1", "1e5", "0000000000001", "12345678901x", "2026-13-01T00:00:00Z", "%00"]
)
def test_malformed_since_is_422(client: TestClient, moto_db: Db, since: str) -> None:
    run = seed_run(moto_db)
    response = client.get(messages_url(run.id), params={"since": since}, headers=AUTH)
    assert response.status_code == 422
    detail = assert_sentence(response.json())
    assert detail.startswith("Invalid query parameter 'since': ")


@pytest.mark.parametrize("suffix", ["/messages", "/logs"])
def test_regression_huge_since_is_not_echoed_back(
    client: TestClient, moto_db: Db, suffix: str
) -> None:
    """Was: the whole 5,000-character value was quoted back in the detail."""
    run = seed_run(moto_db)
    response = client.get(
        f"/api/agent-runs/{run.id}{suffix}", params={"since": "z" * 5_000}, headers=AUTH
    )
    assert response.status_code == 422
    assert_sentence(response.json())


@pytest.mark.parametrize("cursor", ["１２３４５６７８９０１２", "٠٠٠٠٠٠٠٠٠٠٠١", "00000000001²"])
def test_regression_cursors_are_ascii_digits_only(
    client: TestClient, moto_db: Db, cursor: str
) -> None:
    """Was: ``\\d`` accepted any script's digits (which ``int`` then parsed) as a cursor."""
    run = seed_run(moto_db)
    response = client.get(
        f"{messages_url(run.id)}/stream", params={"lastEventId": cursor}, headers=AUTH
    )
    assert response.status_code == 422
    assert_sentence(response.json())
    logs = client.get(f"/api/agent-runs/{run.id}/logs", params={"since": cursor}, headers=AUTH)
    assert logs.status_code == 422


@pytest.mark.parametrize("bad", ["abc", "-5", "1" * 13, "00000000000a", "0000 0000 001"])
def test_malformed_resume_ids_are_422(client: TestClient, moto_db: Db, bad: str) -> None:
    run = seed_run(moto_db)
    url = f"{messages_url(run.id)}/stream"
    by_query = client.get(url, params={"lastEventId": bad}, headers=AUTH)
    assert by_query.status_code == 422
    assert by_query.json() == {
        "detail": f"The lastEventId parameter '{bad}' is not a message cursor: send the id "
        "of the last event received (12 digits)."
    }
    by_header = client.get(url, headers={**AUTH, "Last-Event-ID": bad})
    assert by_header.status_code == 422
    assert by_header.json() == {
        "detail": f"The Last-Event-ID header '{bad}' is not a message cursor: send the id "
        "of the last event received (12 digits)."
    }


def test_malformed_read_cursor_is_422(client: TestClient, moto_db: Db) -> None:
    run = seed_run(moto_db)
    response = client.put(f"/api/agent-runs/{run.id}/read", json={"cursor": "nope"}, headers=AUTH)
    assert response.status_code == 422
    assert response.json() == {
        "detail": "Invalid body field 'cursor': 'nope' is not a message cursor "
        "(12 digits, the SSE event id)."
    }


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("PATCH", "", {"status": "coding"}),
        ("POST", "/messages", {"content": "hi"}),
        ("GET", "/messages", None),
        ("GET", "/messages/stream", None),
        ("PUT", "/read", {"cursor": "000000000001"}),
        ("POST", "/cancel", None),
    ],
)
def test_unknown_run_is_404(
    client: TestClient, method: str, suffix: str, body: dict[str, str] | None
) -> None:
    response = client.request(method, f"/api/agent-runs/run_nope{suffix}", json=body, headers=AUTH)
    assert response.status_code == 404, response.text
    assert response.json() == {"detail": "Agent run run_nope was not found."}


@pytest.mark.parametrize("run_id", ["..%2F..%2Fetc", "run nope", "r" * 500, "%00"])
def test_malformed_run_ids_are_4xx_with_a_sentence(client: TestClient, run_id: str) -> None:
    response = client.post(messages_url(run_id), json={"content": "hi"}, headers=AUTH)
    assert 400 <= response.status_code < 500
    assert_sentence(response.json())


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_wrong_content_type_is_422(client: TestClient, moto_db: Db, content_type: str) -> None:
    run = seed_run(moto_db)
    response = client.post(
        messages_url(run.id),
        content=b'{"content": "hi"}',
        headers={**AUTH, "Content-Type": content_type},
    )
    assert response.status_code == 422
    assert response.json() == {"detail": NOT_AN_OBJECT}
    assert list_messages(moto_db, run_id=run.id) == []


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"\xff\xfe", NOT_JSON),
        (b"\xff", NOT_UTF8_DETAIL),
        (b'{"content": "caf\xe9"}', NOT_UTF8_DETAIL),
        (b"\x80:", NOT_UTF8_DETAIL),
        (b"", "The request body is required: send a JSON object."),
        (b"{", NOT_JSON),
    ],
)
def test_regression_non_utf8_bodies_are_422_with_a_sentence(
    client: TestClient, moto_db: Db, body: bytes, detail: str
) -> None:
    """Was: some non-UTF-8 bodies got FastAPI's 400 'There was an error parsing the body'."""
    run = seed_run(moto_db)
    response = client.post(messages_url(run.id), content=body, headers=JSON_HEADERS)
    assert response.status_code == 422
    assert response.json() == {"detail": detail}


@pytest.mark.parametrize("body", [b"[]", b'[{"content": "hi"}]', b"42", b'"hi"', b"null", b"true"])
def test_json_that_is_not_an_object_is_422(client: TestClient, moto_db: Db, body: bytes) -> None:
    run = seed_run(moto_db)
    response = client.post(messages_url(run.id), content=body, headers=JSON_HEADERS)
    assert response.status_code == 422
    assert response.json() == {"detail": NOT_AN_OBJECT}


def test_regression_huge_body_with_a_length_is_refused_unread(
    client: TestClient, moto_db: Db
) -> None:
    """Was: no body limit at all (a 50 MB JSON body was read and parsed into memory)."""
    run = seed_run(moto_db)
    body = b'{"content": "' + b"x" * (MAX_REQUEST_BODY_BYTES + 1) + b'"}'
    response = client.post(messages_url(run.id), content=body, headers=JSON_HEADERS)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": TOO_LARGE_DETAIL}


def test_regression_huge_streamed_body_is_refused(client: TestClient, moto_db: Db) -> None:
    """Without a Content-Length the body is counted as it arrives."""
    run = seed_run(moto_db)
    chunk = b"y" * 65_536

    def chunks() -> Iterator[bytes]:
        yield b'{"content": "'
        for _ in range(MAX_REQUEST_BODY_BYTES // len(chunk) + 2):
            yield chunk
        yield b'"}'

    response = client.post(messages_url(run.id), content=chunks(), headers=JSON_HEADERS)
    assert response.status_code == 413
    assert response.json() == {"detail": TOO_LARGE_DETAIL}
    assert list_messages(moto_db, run_id=run.id) == []


def test_deeply_nested_json_is_a_4xx(client: TestClient, moto_db: Db) -> None:
    run = seed_run(moto_db)
    body = b'{"content": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = client.post(messages_url(run.id), content=body, headers=JSON_HEADERS)
    assert response.status_code == 422
    assert_sentence(response.json())


def test_regression_openapi_documents_the_real_error_shape(client: TestClient) -> None:
    """Was: 401/403/404/503 undocumented and 422 documented as FastAPI's list of records."""
    schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/api/agent-runs/{runId}/messages"]["post"]
    for code in ("401", "403", "404", "413", "422", "503"):
        ref = operation["responses"][code]["content"]["application/json"]["schema"]["$ref"]
        assert ref == "#/components/schemas/ErrorDetail"
    assert schema["components"]["schemas"]["ErrorDetail"]["required"] == ["detail"]
