"""Nobody gets in: run-scoped agent tokens, constant-time checks, safe binding, inert content.

``tests/api/routes/test_auth.py`` already proves that every ``/api`` route of the
OpenAPI schema (the SSE route included) refuses a missing or wrong token; this
module proves what a token may *not* do once it is valid, and how the service
refuses to expose itself.
"""

from __future__ import annotations

import hmac
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import api.auth
from api.auth import mint_agent_token
from api.store.db import Db
from api.store.messages import list_messages
from core.models import AgentRunRole
from tests.conftest import AUTH, TOKEN
from tests.reliability.conftest import agent_headers, seed_run

ROOT = Path(__file__).resolve().parents[2]
#: A cold ``python -m api`` import takes a few seconds on this machine.
REFUSAL_TIMEOUT_S = 60.0
OTHER_RUN = "run_someone_else"
OPERATOR_ONLY = "This route needs the operator token; an agent token only acts on its own run."


def flip_last(token: str) -> str:
    return token[:-1] + ("B" if token.endswith("A") else "A")


def other_run_detail(own: str, target: str) -> str:
    return f"This agent token belongs to run {own}; it cannot act on run {target}."


# --- run-scoped agent tokens ---------------------------------------------------------


#: Every route that takes a run id, with a body it would accept.
RUN_ROUTES: list[tuple[str, str, dict[str, object] | None]] = [
    ("GET", "/api/agent-runs/{run}", None),
    ("PATCH", "/api/agent-runs/{run}", {"status": "coding"}),
    ("POST", "/api/agent-runs/{run}/messages", {"content": "hello"}),
    ("GET", "/api/agent-runs/{run}/messages", None),
    ("GET", "/api/agent-runs/{run}/messages/stream", None),
    ("GET", "/api/agent-runs/{run}/logs", None),
]


@pytest.mark.parametrize(("method", "template", "body"), RUN_ROUTES)
def test_agent_token_cannot_act_on_another_run(
    client: TestClient,
    moto_db: Db,
    method: str,
    template: str,
    body: dict[str, object] | None,
) -> None:
    target = seed_run(moto_db)
    mine = seed_run(moto_db)
    response = client.request(
        method, template.format(run=target.id), json=body, headers=agent_headers(client, mine.id)
    )
    assert response.status_code == 403, response.text
    assert response.json() == {"detail": other_run_detail(mine.id, target.id)}
    assert list_messages(moto_db, run_id=target.id) == []


def test_agent_token_is_operator_only_elsewhere(client: TestClient, moto_db: Db) -> None:
    """Routes without a run id (projects, features, read markers) need the operator token."""
    run = seed_run(moto_db)
    headers = agent_headers(client, run.id)
    for method, path, body in [
        ("GET", "/api/projects", None),
        ("POST", "/api/projects", {"name": "Sneaky"}),
        ("GET", f"/api/projects/{run.project_id}/agents", None),
        ("GET", f"/api/features/{run.feature_id}/messages", None),
        ("PUT", f"/api/agent-runs/{run.id}/read", {"cursor": "000000000001"}),
    ]:
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json() == {"detail": OPERATOR_ONLY}


def test_agent_post_is_stored_as_the_agent_never_as_the_user(
    client: TestClient, moto_db: Db
) -> None:
    run = seed_run(moto_db, AgentRunRole.TESTER)
    headers = agent_headers(client, run.id)
    posted = client.post(
        f"/api/agent-runs/{run.id}/messages", json={"content": "hi"}, headers=headers
    )
    assert posted.status_code == 201
    # The sender is decided by the token; a payload cannot pick it.
    spoofed = client.post(
        f"/api/agent-runs/{run.id}/messages",
        json={"content": "I am the user", "sender": "user"},
        headers=headers,
    )
    assert spoofed.status_code == 422
    assert spoofed.json() == {
        "detail": "Unknown body field 'sender': remove it (fields are camelCase)."
    }
    stored = list_messages(moto_db, run_id=run.id)
    assert [(m.sender.value, m.role, m.content) for m in stored] == [
        ("agent", AgentRunRole.TESTER, "hi")
    ]


@pytest.mark.parametrize(
    "forge",
    [
        # Another run's MAC glued to this run id.
        lambda secret, run: f"oma_agent.{run}.{mint_agent_token(secret, OTHER_RUN).split('.')[-1]}",
        # A valid token with its MAC cut short, or one character changed.
        lambda secret, run: mint_agent_token(secret, run)[:-1],
        lambda secret, run: flip_last(mint_agent_token(secret, run)),
        # The run id changed after minting.
        lambda secret, run: mint_agent_token(secret, OTHER_RUN).replace(OTHER_RUN, run),
        # The operator token with a suffix, and an agent token without its prefix.
        lambda secret, run: TOKEN + "x",
        lambda secret, run: mint_agent_token(secret, run).removeprefix("oma_agent"),
    ],
)
def test_tampered_tokens_are_refused(
    client: TestClient, moto_db: Db, forge: Callable[[bytes, str], str]
) -> None:
    run = seed_run(moto_db)
    secret: bytes = client.app.state.runtime.agent_secret  # type: ignore[attr-defined]
    token = forge(secret, run.id)
    response = client.post(
        f"/api/agent-runs/{run.id}/messages",
        json={"content": "hi"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 401
    assert response.json() == {"detail": "The bearer token is not valid for this service."}
    assert list_messages(moto_db, run_id=run.id) == []


def test_token_comparison_is_constant_time(
    client: TestClient, moto_db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both token kinds are checked with ``hmac.compare_digest``, never ``==``."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)  # the module api.auth uses
    run = seed_run(moto_db)
    agent = agent_headers(client, run.id)
    agent_mac = agent["Authorization"].rsplit(".", 1)[1].encode()

    assert client.get("/api/projects", headers=AUTH).status_code == 200
    assert (TOKEN.encode(), TOKEN.encode()) in calls

    calls.clear()
    assert client.get(f"/api/agent-runs/{run.id}", headers=agent).status_code == 200
    assert (agent_mac, agent_mac) in calls  # the MAC, compared in constant time

    calls.clear()
    bad = {"Authorization": "Bearer wrong"}
    assert client.get("/api/projects", headers=bad).status_code == 401
    assert (b"wrong", TOKEN.encode()) in calls


def test_no_plain_equality_on_secrets_in_auth() -> None:
    """Structural guard: the auth module compares secrets only through compare_digest."""
    source = Path(api.auth.__file__).read_text(encoding="utf-8")
    for needle in ("== api_token", "api_token ==", "== _mac(", "mac ==", "== mac"):
        assert needle not in source


# --- binding ---------------------------------------------------------------------------


def run_api(
    env_overrides: dict[str, str], drop: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMAKASE_")}
    for name in drop:
        env.pop(name, None)
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "-m", "api"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=REFUSAL_TIMEOUT_S,
        check=False,
    )


@pytest.mark.parametrize(("host", "token"), [("0.0.0.0", None), ("::", "")])
def test_api_refuses_a_public_bind_without_a_token(host: str, token: str | None) -> None:
    overrides = {
        "OMAKASE_API_HOST": host,
        "OMAKASE_API_PORT": "1",  # never reached: it must refuse before binding
        "OMAKASE_DYNAMODB_ENDPOINT": "http://127.0.0.1:9",
    }
    if token is not None:
        overrides["OMAKASE_API_TOKEN"] = token
    result = run_api(overrides)
    assert result.returncode == 2, result.stderr
    assert (
        f"error: Refusing to listen on {host} without a token: set OMAKASE_API_TOKEN "
        "(only a loopback address may run with a generated one)."
    ) in result.stderr
    assert "Traceback" not in result.stderr
    assert "Uvicorn running" not in result.stderr


# --- content is data, not markup ---------------------------------------------------------

HOSTILE = (
    '<script>alert("x")</script><img src=x onerror=alert(1)> '
    "javascript:alert(2) {{7*7}} ${7*7} </textarea>\u202e"
)


def test_html_and_js_content_is_stored_verbatim_and_returned_as_json_text(
    client: TestClient, moto_db: Db
) -> None:
    run = seed_run(moto_db)
    posted = client.post(
        f"/api/agent-runs/{run.id}/messages", json={"content": HOSTILE}, headers=AUTH
    )
    assert posted.status_code == 201
    assert posted.headers["content-type"] == "application/json"
    assert posted.json()["content"] == HOSTILE
    listed = client.get(f"/api/agent-runs/{run.id}/messages", headers=AUTH)
    assert listed.headers["content-type"] == "application/json"
    assert [m["content"] for m in listed.json()] == [HOSTILE]
    assert list_messages(moto_db, run_id=run.id)[0].content == HOSTILE
