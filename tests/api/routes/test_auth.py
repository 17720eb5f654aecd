"""Every /api route refuses a missing or wrong token; /healthz is open."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from api.auth import mint_agent_token
from tests.conftest import AUTH

MISSING = "Missing bearer token: send the header 'Authorization: Bearer <token>'."
INVALID = "The bearer token is not valid for this service."


def api_routes(client: TestClient) -> list[tuple[str, str]]:
    """Every (method, path) of the OpenAPI schema under /api, path parameters filled in."""
    schema = client.get("/openapi.json").json()
    routes: list[tuple[str, str]] = []
    for template, operations in schema["paths"].items():
        if template.startswith("/api"):
            path = re.sub(r"\{(\w+)\}", r"\1", template)
            routes.extend((method.upper(), path) for method in operations)
    return routes


def test_every_api_route_requires_a_token(client: TestClient) -> None:
    routes = api_routes(client)
    assert len(routes) >= 9
    for method, path in routes:
        response = client.request(method, path)
        assert response.status_code == 401, (method, path)
        assert response.json() == {"detail": MISSING}, (method, path)
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_every_api_route_refuses_a_wrong_token(client: TestClient) -> None:
    for method, path in api_routes(client):
        response = client.request(method, path, headers={"Authorization": "Bearer nope"})
        assert response.status_code == 401, (method, path)
        assert response.json() == {"detail": INVALID}


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Token abc"])
def test_other_schemes_are_refused(client: TestClient, header: str) -> None:
    response = client.get("/api/projects", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["detail"] in (
        "The Authorization header must be 'Bearer <token>'.",
        MISSING,
    )


def test_forged_agent_token_is_refused(client: TestClient) -> None:
    forged = mint_agent_token(b"not the service secret", "run_x")
    response = client.get("/api/agent-runs/run_x", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert response.json() == {"detail": INVALID}


def test_agent_token_cannot_use_operator_routes(client: TestClient) -> None:
    secret = client.app.state.runtime.agent_secret  # type: ignore[attr-defined]
    token = mint_agent_token(secret, "run_x")
    response = client.get("/api/projects", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert response.json() == {
        "detail": "This route needs the operator token; an agent token only acts on its own run."
    }


def test_agent_token_cannot_read_another_run(client: TestClient) -> None:
    secret = client.app.state.runtime.agent_secret  # type: ignore[attr-defined]
    token = mint_agent_token(secret, "run_mine")
    response = client.get("/api/agent-runs/run_other", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert response.json() == {
        "detail": "This agent token belongs to run run_mine; it cannot act on run run_other."
    }


def test_healthz_is_open(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_operator_token_works(client: TestClient) -> None:
    assert client.get("/api/projects", headers=AUTH).status_code == 200
