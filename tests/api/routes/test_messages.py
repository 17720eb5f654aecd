"""Message routes over moto: POST (user/agent, idempotent ids), GET, feature thread, read marker."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.auth import mint_agent_token
from api.store.db import Db
from api.store.runs import create_run, get_run, set_run_status
from core.models import MAX_MESSAGE_CHARS, AgentRun, AgentRunCreate, AgentRunRole, AgentRunStatus
from tests.conftest import AUTH


def make_run(client: TestClient, db: Db, role: AgentRunRole = AgentRunRole.CODER) -> AgentRun:
    pid = client.post("/api/projects", json={"name": "P"}, headers=AUTH).json()["id"]
    fid = client.post(f"/api/projects/{pid}/features", json={"name": "F"}, headers=AUTH).json()[
        "id"
    ]
    return create_run(db, data=AgentRunCreate(project_id=pid, feature_id=fid, role=role))


def agent_auth(client: TestClient, run_id: str) -> dict[str, str]:
    secret: bytes = client.app.state.runtime.agent_secret  # type: ignore[attr-defined]
    return {"Authorization": f"Bearer {mint_agent_token(secret, run_id)}"}


def url(run: AgentRun | str, suffix: str = "/messages") -> str:
    run_id = run if isinstance(run, str) else run.id
    return f"/api/agent-runs/{run_id}{suffix}"


# --- POST ---------------------------------------------------------------------------


def test_user_message_is_stored_with_a_queued_receipt(client: TestClient, moto_db: Db) -> None:
    run = make_run(client, moto_db)
    response = client.post(url(run), json={"content": "  use the v2 API  "}, headers=AUTH)
    assert response.status_code == 201
    body = response.json()
    assert body["sender"] == "user"
    assert body["role"] is None
    assert body["content"] == "use the v2 API"
    assert body["type"] == "message"
    assert (body["runId"], body["featureId"], body["projectId"]) == (
        run.id,
        run.feature_id,
        run.project_id,
    )
    assert body["receipt"]["state"] == "queued"
    assert body["cursor"] == "000000000001"
    assert body["timestamp"].endswith("Z")


def test_agent_token_posts_as_the_agent_with_its_role(client: TestClient, moto_db: Db) -> None:
    run = make_run(client, moto_db, AgentRunRole.REVIEWER)
    response = client.post(
        url(run), json={"content": "Looks good"}, headers=agent_auth(client, run.id)
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["sender"], body["role"], body["receipt"]) == ("agent", "reviewer", None)


def test_another_runs_agent_token_is_403(client: TestClient, moto_db: Db) -> None:
    run = make_run(client, moto_db)
    other = make_run(client, moto_db)
    response = client.post(url(run), json={"content": "hi"}, headers=agent_auth(client, other.id))
    assert response.status_code == 403
    assert response.json() == {
        "detail": f"This agent token belongs to run {other.id}; it cannot act on run {run.id}."
    }


def test_post_to_unknown_run_is_404(client: TestClient) -> None:
    response = client.post(url("run_nope"), json={"content": "hi"}, headers=AUTH)
    assert response.status_code == 404
    assert response.json() == {"detail": "Agent run run_nope was not found."}


@pytest.mark.parametrize("status", [AgentRunStatus.COMPLETED, AgentRunStatus.FAILED])
def test_post_to_ended_run_is_409(client: TestClient, moto_db: Db, status: AgentRunStatus) -> None:
    run = make_run(client, moto_db)
    set_run_status(moto_db, run_id=run.id, status=status)
    response = client.post(url(run), json={"content": "too late"}, headers=AUTH)
    assert response.status_code == 409
    assert response.json() == {
        "detail": f"Agent run {run.id} is no longer active ({status.value})."
    }


def test_post_without_token_is_401(client: TestClient, moto_db: Db) -> None:
    run = make_run(client, moto_db)
    response = client.post(url(run), json={"content": "hi"})
    assert response.status_code == 401
    assert response.json() == {
        "detail": "Missing bearer token: send the header 'Authorization: Bearer <token>'."
    }


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        (
            {"content": ""},
            "Invalid body field 'content': Message content must not be empty or only whitespace.",
        ),
        (
            {"content": " \n\t "},
            "Invalid body field 'content': Message content must not be empty or only whitespace.",
        ),
        (
            {"content": "x" * (MAX_MESSAGE_CHARS + 1)},
            "Invalid body field 'content': Message content is 32,001 characters; the limit is "
            "32,000 (put long output in the logs).",
        ),
        ({}, "The body field 'content' is required."),
        (
            {"content": "hi", "sender": "agent"},
            "Unknown body field 'sender': remove it (fields are camelCase).",
        ),
        (
            {"content": "hi", "id": "has space"},
            "Invalid body field 'id': String should match pattern "
            "'^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$'.",
        ),
    ],
)
def test_invalid_message_is_422(
    client: TestClient, moto_db: Db, payload: dict[str, object], detail: str
) -> None:
    run = make_run(client, moto_db)
    response = client.post(url(run), json=payload, headers=AUTH)
    assert response.status_code == 422
    assert response.json() == {"detail": detail}


def test_content_at_the_limit_is_accepted(client: TestClient, moto_db: Db) -> None:
    run = make_run(client, moto_db)
    response = client.post(url(run), json={"content": "x" * MAX_MESSAGE_CHARS}, headers=AUTH)
    assert response.status_code == 201


def test_retry_with_client_id_returns_the_stored_message(client: TestClient, moto_db: Db) -> None:
    run = make_run(client, moto_db)
    first = client.post(url(run), json={"content": "ship it", "id": "cli-1"}, headers=AUTH)
    again = client.post(url(run), json={"content": "ship it", "id": "cli-1"}, headers=AUTH)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert first.json()["id"] == "cli-1"
    thread = client.get(url(run), headers=AUTH).json()
    assert [m["id"] for m in thread] == ["cli-1"]


def test_same_client_id_with_other_content_is_409(client: TestClient, moto_db: Db) -> None:
    run = make_run(client, moto_db)
    client.post(url(run), json={"content": "ship it", "id": "cli-1"}, headers=AUTH)
    response = client.post(url(run), json={"content": "hold it", "id": "cli-1"}, headers=AUTH)
    assert response.status_code == 409
    assert response.json() == {
        "detail": "Message id cli-1 is already used by a different message in this run; "
        "send new content with a new id."
    }


def test_retry_after_the_run_ended_still_gets_its_message(client: TestClient, moto_db: Db) -> None:
    """The first attempt landed, the answer was lost, the run ended, the client retried."""
    run = make_run(client, moto_db)
    first = client.post(url(run), json={"content": "ship it", "id": "cli-1"}, headers=AUTH)
    set_run_status(moto_db, run_id=run.id, status=AgentRunStatus.COMPLETED)
    again = client.post(url(run), json={"content": "ship it", "id": "cli-1"}, headers=AUTH)
    assert again.status_code == 200
    assert again.json() == first.json()


# --- GET ----------------------------------------------------------------------------


def post_many(client: TestClient, run: AgentRun, count: int) -> list[dict[str, object]]:
    return [
        client.post(url(run), json={"content": f"m{i}"}, headers=AUTH).json() for i in range(count)
    ]


def test_thread_oldest_first_with_cursor_since(client: TestClient, moto_db: Db) -> None:
    run = make_run(client, moto_db)
    posted = post_many(client, run, 5)
    response = client.get(url(run), headers=AUTH)
    assert response.status_code == 200
    assert response.json() == posted
    later = client.get(url(run), params={"since": str(posted[1]["cursor"])}, headers=AUTH).json()
    assert [m["content"] for m in later] == ["m2", "m3", "m4"]
    page = client.get(url(run), params={"limit": 2}, headers=AUTH).json()
    assert [m["content"] for m in page] == ["m0", "m1"]


def test_thread_since_iso_timestamp(client: TestClient, moto_db: Db) -> None:
    run = make_run(client, moto_db)
    posted = post_many(client, run, 3)
    since = str(posted[0]["timestamp"])
    later = client.get(url(run), params={"since": since}, headers=AUTH).json()
    assert [m["content"] for m in later] == ["m1", "m2"]
    everything = client.get(url(run), params={"since": "2000-01-01T00:00:00Z"}, headers=AUTH)
    assert len(everything.json()) == 3


def test_thread_sender_filter(client: TestClient, moto_db: Db) -> None:
    run = make_run(client, moto_db)
    client.post(url(run), json={"content": "from user"}, headers=AUTH)
    client.post(url(run), json={"content": "from agent"}, headers=agent_auth(client, run.id))
    agent = client.get(url(run), params={"sender": "agent"}, headers=AUTH).json()
    assert [m["content"] for m in agent] == ["from agent"]


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        (
            {"since": "yesterday"},
            "Invalid query parameter 'since': 'yesterday' is neither a message cursor "
            "(12 digits) nor an ISO 8601 timestamp.",
        ),
        (
            {"sender": "robot"},
            "Invalid query parameter 'sender': Input should be 'user' or 'agent'.",
        ),
        (
            {"limit": 0},
            "Invalid query parameter 'limit': Input should be greater than or equal to 1.",
        ),
    ],
)
def test_malformed_query_is_422(
    client: TestClient, moto_db: Db, params: dict[str, str], detail: str
) -> None:
    run = make_run(client, moto_db)
    response = client.get(url(run), params=params, headers=AUTH)
    assert response.status_code == 422
    assert response.json() == {"detail": detail}


def test_get_unknown_run_is_404(client: TestClient) -> None:
    response = client.get(url("run_nope"), headers=AUTH)
    assert response.status_code == 404
    assert response.json() == {"detail": "Agent run run_nope was not found."}


def test_feature_thread_spans_its_runs(client: TestClient, moto_db: Db) -> None:
    first = make_run(client, moto_db)
    second = create_run(
        moto_db,
        data=AgentRunCreate(
            project_id=first.project_id,
            feature_id=first.feature_id,
            role=AgentRunRole.TESTER,
            step=2,
        ),
    )
    client.post(url(first), json={"content": "to the coder"}, headers=AUTH)
    client.post(url(second), json={"content": "to the tester"}, headers=AUTH)
    response = client.get(f"/api/features/{first.feature_id}/messages", headers=AUTH)
    assert response.status_code == 200
    assert [(m["runId"], m["content"]) for m in response.json()] == [
        (first.id, "to the coder"),
        (second.id, "to the tester"),
    ]


def test_feature_thread_of_unknown_feature_is_404(client: TestClient) -> None:
    response = client.get("/api/features/feat_nope/messages", headers=AUTH)
    assert response.status_code == 404
    assert response.json() == {"detail": "Feature feat_nope was not found."}


# --- read marker --------------------------------------------------------------------


def test_read_marker_moves_forward_only(client: TestClient, moto_db: Db) -> None:
    run = make_run(client, moto_db)
    response = client.put(url(run, "/read"), json={"cursor": "000000000003"}, headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {"runId": run.id, "cursor": "000000000003"}
    older = client.put(url(run, "/read"), json={"cursor": "000000000001"}, headers=AUTH)
    assert older.json() == {"runId": run.id, "cursor": "000000000003"}
    assert get_run(moto_db, run_id=run.id).read_cursor == "000000000003"


def test_read_marker_validation(client: TestClient, moto_db: Db) -> None:
    run = make_run(client, moto_db)
    bad = client.put(url(run, "/read"), json={"cursor": "12"}, headers=AUTH)
    assert bad.status_code == 422
    assert bad.json() == {
        "detail": "Invalid body field 'cursor': '12' is not a message cursor "
        "(12 digits, the SSE event id)."
    }
    missing = client.put(url("run_nope", "/read"), json={"cursor": "000000000001"}, headers=AUTH)
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Agent run run_nope was not found."}
