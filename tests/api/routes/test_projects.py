"""Projects routes: create (with four agents), list, read, agents; auth and validation."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.store.agents import update_agent
from api.store.db import Db
from api.store.questions import open_question
from api.store.runs import create_run
from core.models import AgentRunCreate, AgentRunRole, AgentStatus
from tests.conftest import AUTH


def create(client: TestClient, **body: object) -> dict[str, object]:
    response = client.post("/api/projects", json={"name": "Demo", **body}, headers=AUTH)
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    return created


def test_create_project_returns_it_in_camel_case(client: TestClient) -> None:
    project = create(client, description="A demo", maxConcurrency=3)
    assert project["name"] == "Demo"
    assert project["description"] == "A demo"
    assert project["maxConcurrency"] == 3
    assert str(project["id"]).startswith("prj_")
    assert str(project["createdAt"]).endswith("Z")


def test_create_project_creates_its_four_agents(client: TestClient) -> None:
    project = create(client)
    response = client.get(f"/api/projects/{project['id']}/agents", headers=AUTH)
    assert response.status_code == 200
    agents = response.json()
    assert [(a["role"], a["name"], a["mascot"]) for a in agents] == [
        ("architect", "Miso", "🍜"),
        ("coder", "Nori", "🍙"),
        ("reviewer", "Koji", "🍶"),
        ("tester", "Toro", "🍣"),
    ]
    assert {a["status"] for a in agents} == {"idle"}
    assert {a["unreadCount"] for a in agents} == {0}


def test_list_and_get_projects(client: TestClient) -> None:
    first, second = create(client, name="One"), create(client, name="Two")
    listed = client.get("/api/projects", headers=AUTH).json()
    assert [p["id"] for p in listed] == [first["id"], second["id"]]
    one = client.get(f"/api/projects/{first['id']}", headers=AUTH)
    assert one.status_code == 200
    assert one.json() == first


def test_unknown_project_is_404(client: TestClient) -> None:
    for path in ("/api/projects/prj_nope", "/api/projects/prj_nope/agents"):
        response = client.get(path, headers=AUTH)
        assert response.status_code == 404
        assert response.json() == {"detail": "Project prj_nope was not found."}


def test_missing_name_is_422_with_a_sentence(client: TestClient) -> None:
    response = client.post("/api/projects", json={}, headers=AUTH)
    assert response.status_code == 422
    assert response.json() == {"detail": "The body field 'name' is required."}


def test_blank_name_is_422(client: TestClient) -> None:
    response = client.post("/api/projects", json={"name": "   "}, headers=AUTH)
    assert response.status_code == 422
    assert response.json() == {
        "detail": "Invalid body field 'name': String should have at least 1 character."
    }


def test_unknown_field_is_422(client: TestClient) -> None:
    response = client.post("/api/projects", json={"name": "x", "owner": "me"}, headers=AUTH)
    assert response.status_code == 422
    assert response.json() == {
        "detail": "Unknown body field 'owner': remove it (fields are camelCase)."
    }


def test_out_of_range_concurrency_is_422(client: TestClient) -> None:
    response = client.post("/api/projects", json={"name": "x", "maxConcurrency": 0}, headers=AUTH)
    assert response.status_code == 422
    assert response.json() == {
        "detail": "Invalid body field 'maxConcurrency': Input should be greater than or equal to 1."
    }


def test_body_that_is_not_json_is_422(client: TestClient) -> None:
    response = client.post(
        "/api/projects",
        content=b"name=x",
        headers=AUTH | {"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json() == {"detail": "The request body is not valid JSON."}


def test_body_with_wrong_content_type_is_422(client: TestClient) -> None:
    response = client.post(
        "/api/projects", content=b"name=x", headers=AUTH | {"Content-Type": "text/plain"}
    )
    assert response.status_code == 422
    assert response.json() == {
        "detail": "The request body must be a JSON object (Content-Type: application/json)."
    }


def test_malformed_project_id_is_422(client: TestClient) -> None:
    response = client.get("/api/projects/not%20an%20id", headers=AUTH)
    assert response.status_code == 422
    assert response.json() == {
        "detail": "Invalid path parameter 'projectId': "
        "String should match pattern '^[A-Za-z0-9_-]{1,64}$'."
    }


def test_an_agent_whose_run_asked_a_question_is_listed_as_waiting(
    client: TestClient, moto_db: Db
) -> None:
    project_id = str(create(client)["id"])
    run = create_run(
        moto_db,
        data=AgentRunCreate(
            project_id=project_id, feature_id="feat_1", role=AgentRunRole.CODER, step=2
        ),
    )
    update_agent(
        moto_db,
        project_id=project_id,
        role=AgentRunRole.CODER,
        status=AgentStatus.RUNNING,
        current_run_id=run.id,
        current_feature_id="feat_1",
    )
    path = f"/api/projects/{project_id}/agents"
    assert {a["waiting"] for a in client.get(path, headers=AUTH).json()} == {False}
    open_question(moto_db, run_id=run.id, question_id="q_1")
    listed = {a["name"]: a["waiting"] for a in client.get(path, headers=AUTH).json()}
    assert listed == {"Miso": False, "Nori": True, "Koji": False, "Toro": False}
