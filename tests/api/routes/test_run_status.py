"""PATCH /api/agent-runs/{runId}: phase reports, one chat notice per real change."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.store.db import Db
from tests.api.routes.test_messages import agent_auth, make_run, url
from tests.conftest import AUTH


def notices(client: TestClient, run_id: str) -> list[tuple[str, str]]:
    thread = client.get(url(run_id), headers=AUTH).json()
    return [(m["type"], m["content"]) for m in thread]


def test_same_status_twice_posts_one_notice(client: TestClient, moto_db: Db) -> None:
    run = make_run(client, moto_db)
    first = client.patch(
        url(run, ""), json={"status": "coding"}, headers=agent_auth(client, run.id)
    )
    again = client.patch(
        url(run, ""), json={"status": "coding"}, headers=agent_auth(client, run.id)
    )
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json()["status"] == again.json()["status"] == "coding"
    assert notices(client, run.id) == [("status", "Started coding phase")]


def test_completion_and_failure_notices(client: TestClient, moto_db: Db) -> None:
    done = make_run(client, moto_db)
    response = client.patch(
        url(done, ""), json={"status": "completed", "outputSummary": "All green"}, headers=AUTH
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["outputSummary"]) == ("completed", "All green")
    assert body["completedAt"] is not None
    assert notices(client, done.id) == [("status", "Nori completed step 1: All green")]

    failed = make_run(client, moto_db)
    client.patch(
        url(failed, ""), json={"status": "failed", "errorMessage": "tests broke"}, headers=AUTH
    )
    assert notices(client, failed.id) == [("error", "Nori failed: tests broke")]


def test_change_after_the_end_is_409(client: TestClient, moto_db: Db) -> None:
    run = make_run(client, moto_db)
    client.patch(url(run, ""), json={"status": "completed"}, headers=AUTH)
    response = client.patch(url(run, ""), json={"status": "coding"}, headers=AUTH)
    assert response.status_code == 409
    assert response.json() == {
        "detail": f"Agent run {run.id} has already ended (completed); "
        "its status can no longer change."
    }


def test_unknown_run_is_404(client: TestClient) -> None:
    response = client.patch(url("run_nope", ""), json={"status": "coding"}, headers=AUTH)
    assert response.status_code == 404
    assert response.json() == {"detail": "Agent run run_nope was not found."}


def test_another_runs_agent_is_403(client: TestClient, moto_db: Db) -> None:
    run = make_run(client, moto_db)
    other = make_run(client, moto_db)
    response = client.patch(
        url(run, ""), json={"status": "coding"}, headers=agent_auth(client, other.id)
    )
    assert response.status_code == 403
    assert response.json() == {
        "detail": f"This agent token belongs to run {other.id}; it cannot act on run {run.id}."
    }


def test_invalid_report_is_422(client: TestClient, moto_db: Db) -> None:
    run = make_run(client, moto_db)
    response = client.patch(url(run, ""), json={"status": "napping"}, headers=AUTH)
    assert response.status_code == 422
    assert response.json() == {
        "detail": "Invalid body field 'status': Input should be 'started', 'thinking', "
        "'coding', 'testing', 'reviewing', 'waiting', 'completed' or 'failed'."
    }
    waiting = client.patch(url(run, ""), json={"status": "waiting"}, headers=AUTH)
    assert waiting.status_code == 422
    assert waiting.json() == {
        "detail": "Invalid body field 'status': 'waiting' is not reported: the run waits while "
        "its agent's question is open (POST /api/agent-runs/{runId}/questions)."
    }
    extra = client.patch(url(run, ""), json={"status": "coding", "step": 3}, headers=AUTH)
    assert extra.status_code == 422
    assert extra.json() == {
        "detail": "Unknown body field 'step': remove it (fields are camelCase)."
    }


def test_an_agent_cannot_report_its_own_outcome(client: TestClient, moto_db: Db) -> None:
    """Issue 13 item 2: an outcome is the service's (exit code, runner, cancel), not the agent's."""
    run = make_run(client, moto_db)
    for status in ("completed", "failed", "started"):
        response = client.patch(
            url(run, ""),
            json={"status": status, "errorMessage": "Interrupted: forged"},
            headers=agent_auth(client, run.id),
        )
        assert response.status_code == 403, status
        assert response.json() == {
            "detail": f"An agent token may report phases only (thinking, coding, testing, "
            f"reviewing), not '{status}': the service decides a step's outcome."
        }
    assert client.get(f"/api/agent-runs/{run.id}", headers=AUTH).json()["status"] == "started"
    # 'waiting' is nobody's to report (a 422): it goes with an open question.
    assert notices(client, run.id) == []


def test_an_agent_reports_every_phase(client: TestClient, moto_db: Db) -> None:
    run = make_run(client, moto_db)
    for status in ("thinking", "coding", "testing", "reviewing"):
        response = client.patch(
            url(run, ""), json={"status": status}, headers=agent_auth(client, run.id)
        )
        assert (response.status_code, response.json()["status"]) == (200, status)
