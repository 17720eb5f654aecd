"""Pipeline routes in-process (moto, no background services): auth, 404/409/503, cancel."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.auth import mint_agent_token
from api.store.db import Db
from api.store.runs import create_run, set_run_status
from core.models import AgentRunCreate, AgentRunRole, AgentRunStatus
from tests.conftest import AUTH


def new_feature(client: TestClient) -> dict[str, str]:
    project = client.post("/api/projects", json={"name": "p"}, headers=AUTH).json()
    feature = client.post(
        f"/api/projects/{project['id']}/features", json={"name": "f"}, headers=AUTH
    ).json()
    return dict(feature)


def test_start_without_a_supervisor_is_503(client: TestClient) -> None:
    feature = new_feature(client)
    response = client.post(f"/api/features/{feature['id']}/start", headers=AUTH)
    assert response.status_code == 503
    assert response.json() == {
        "detail": "This API process does not run agent pipelines (no agent supervisor)."
    }
    missing = client.post("/api/features/feat_nope/start", headers=AUTH)
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Feature feat_nope was not found."}


def test_cancel_marks_the_run_failed_once(client: TestClient, moto_db: Db) -> None:
    run = create_run(
        moto_db,
        data=AgentRunCreate(project_id="prj_1", feature_id="feat_1", role=AgentRunRole.CODER),
    )
    response = client.post(f"/api/agent-runs/{run.id}/cancel", headers=AUTH)
    assert response.status_code == 200
    assert response.json()["status"] == "failed"
    assert response.json()["errorMessage"] == "Cancelled by user"
    thread = client.get(f"/api/agent-runs/{run.id}/messages", headers=AUTH).json()
    assert [(m["type"], m["content"]) for m in thread] == [
        ("error", "Nori failed: Cancelled by user")
    ]
    again = client.post(f"/api/agent-runs/{run.id}/cancel", headers=AUTH)
    assert again.status_code == 409
    assert again.json() == {"detail": f"Agent run {run.id} has already ended (failed)."}


def test_cancel_of_a_completed_run_and_of_nothing(client: TestClient, moto_db: Db) -> None:
    run = create_run(
        moto_db,
        data=AgentRunCreate(project_id="prj_1", feature_id="feat_1", role=AgentRunRole.TESTER),
    )
    set_run_status(moto_db, run_id=run.id, status=AgentRunStatus.COMPLETED)
    done = client.post(f"/api/agent-runs/{run.id}/cancel", headers=AUTH)
    assert done.status_code == 409
    assert done.json() == {"detail": f"Agent run {run.id} has already ended (completed)."}
    missing = client.post("/api/agent-runs/run_nope/cancel", headers=AUTH)
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Agent run run_nope was not found."}


def test_pipeline_routes_need_the_operator(client: TestClient, moto_db: Db) -> None:
    run = create_run(
        moto_db,
        data=AgentRunCreate(project_id="prj_1", feature_id="feat_1", role=AgentRunRole.CODER),
    )
    secret: bytes = client.app.state.runtime.agent_secret  # type: ignore[attr-defined]
    agent = {"Authorization": f"Bearer {mint_agent_token(secret, run.id)}"}
    response = client.post(f"/api/agent-runs/{run.id}/cancel", headers=agent)
    assert response.status_code == 403
    assert response.json() == {
        "detail": "This route needs the operator token; an agent token only acts on its own run."
    }
    assert client.post(f"/api/agent-runs/{run.id}/cancel").status_code == 401
