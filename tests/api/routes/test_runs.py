"""Run routes: a project's runs newest first, one run; logs of a run and of a project."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.store.db import Db
from api.store.logs import append_logs
from api.store.runs import create_run
from core.models import AgentRun, AgentRunCreate, AgentRunRole, LogStream
from tests.conftest import AUTH


def make_run(client: TestClient, db: Db, role: AgentRunRole = AgentRunRole.CODER) -> AgentRun:
    pid = client.post("/api/projects", json={"name": "P"}, headers=AUTH).json()["id"]
    fid = client.post(f"/api/projects/{pid}/features", json={"name": "F"}, headers=AUTH).json()[
        "id"
    ]
    return create_run(db, data=AgentRunCreate(project_id=pid, feature_id=fid, role=role))


def test_get_run(client: TestClient, moto_db: Db) -> None:
    run = make_run(client, moto_db)
    response = client.get(f"/api/agent-runs/{run.id}", headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["role"], body["status"], body["step"]) == (
        run.id,
        "coder",
        "started",
        1,
    )


def test_project_runs_newest_first(client: TestClient, moto_db: Db) -> None:
    first = make_run(client, moto_db)
    second = create_run(
        moto_db,
        data=AgentRunCreate(
            project_id=first.project_id,
            feature_id=first.feature_id,
            role=AgentRunRole.REVIEWER,
            step=2,
        ),
    )
    response = client.get(f"/api/projects/{first.project_id}/agent-runs", headers=AUTH)
    assert response.status_code == 200
    assert [r["id"] for r in response.json()] == [second.id, first.id]


def test_unknown_run_is_404(client: TestClient) -> None:
    response = client.get("/api/agent-runs/run_nope", headers=AUTH)
    assert response.status_code == 404
    assert response.json() == {"detail": "Agent run run_nope was not found."}
    logs = client.get("/api/agent-runs/run_nope/logs", headers=AUTH)
    assert logs.status_code == 404
    assert logs.json() == {"detail": "Agent run run_nope was not found."}


def test_run_logs_in_order_with_cursor(client: TestClient, moto_db: Db) -> None:
    run = make_run(client, moto_db)
    append_logs(moto_db, run=run, lines=[(LogStream.STDOUT, f"line {i}") for i in range(30)])
    response = client.get(f"/api/agent-runs/{run.id}/logs", headers=AUTH)
    assert response.status_code == 200
    lines = response.json()
    assert [line["line"] for line in lines] == [f"line {i}" for i in range(30)]
    assert {line["agentName"] for line in lines} == {"Nori"}
    later = client.get(
        f"/api/agent-runs/{run.id}/logs", params={"since": lines[27]["cursor"]}, headers=AUTH
    )
    assert [line["line"] for line in later.json()] == ["line 28", "line 29"]


def test_malformed_log_cursor_is_422(client: TestClient, moto_db: Db) -> None:
    run = make_run(client, moto_db)
    response = client.get(f"/api/agent-runs/{run.id}/logs?since=abc", headers=AUTH)
    assert response.status_code == 422
    assert response.json() == {
        "detail": "Invalid query parameter 'since': 'abc' is not a log cursor."
    }


def test_project_logs_across_runs(client: TestClient, moto_db: Db) -> None:
    run = make_run(client, moto_db)
    append_logs(moto_db, run=run, lines=[(LogStream.STDOUT, "hello")])
    response = client.get(f"/api/projects/{run.project_id}/logs", headers=AUTH)
    assert response.status_code == 200
    assert [(line["line"], line["agentName"]) for line in response.json()] == [("hello", "Nori")]
    bad = client.get(f"/api/projects/{run.project_id}/logs?since=yesterday", headers=AUTH)
    assert bad.status_code == 422
    assert bad.json() == {
        "detail": "Invalid query parameter 'since': 'yesterday' is neither a message cursor "
        "(12 digits) nor an ISO 8601 timestamp."
    }
