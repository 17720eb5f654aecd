"""Every list route has a page-size cap and a clear next cursor past it (issue 13 item 7)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

import api.routes.logs as log_routes
import api.routes.messages as message_routes
import api.routes.paging as paging
from api.store.db import Db
from api.store.logs import append_logs
from api.store.messages import list_messages
from api.store.runs import create_run
from core.models import AgentRunCreate, AgentRunRole, LogStream
from tests.api.routes.test_messages import make_run, url
from tests.conftest import AUTH

CAP = 3


def walk(client: TestClient, first: str) -> tuple[list[list[Any]], list[str]]:
    """Follow ``Link: rel=next`` from ``first``: every page's body and every next cursor."""
    pages: list[list[Any]] = []
    cursors: list[str] = []
    target: str | None = first
    while target is not None:
        response = client.get(target, headers=AUTH)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        link = response.headers.get("link")
        if link is None:
            assert "x-next-cursor" not in response.headers
            target = None
        else:
            cursors.append(response.headers["x-next-cursor"])
            assert link.endswith('>; rel="next"')
            parsed = httpx.URL(link[1 : link.index(">")])
            target = f"{parsed.path}?{parsed.query.decode()}"
    return pages, cursors


@pytest.fixture
def capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paging, "MAX_PAGE_ITEMS", CAP)
    monkeypatch.setattr(message_routes, "MAX_PAGE_MESSAGES", CAP)
    monkeypatch.setattr(log_routes, "MAX_PAGE_LOG_LINES", CAP)


def test_projects_features_and_runs_page_past_the_cap(
    client: TestClient, moto_db: Db, capped: None
) -> None:
    for n in range(CAP + 2):
        client.post("/api/projects", json={"name": f"P{n}"}, headers=AUTH)
    pages, cursors = walk(client, "/api/projects")
    assert [len(p) for p in pages] == [CAP, 2]
    assert cursors == [pages[0][-1]["id"]]
    assert len({p["id"] for page in pages for p in page}) == CAP + 2

    pid = pages[0][0]["id"]
    for n in range(CAP + 1):
        client.post(f"/api/projects/{pid}/features", json={"name": f"F{n}"}, headers=AUTH)
        create_run(
            moto_db,
            data=AgentRunCreate(project_id=pid, feature_id=f"feat_{n}", role=AgentRunRole.CODER),
        )
    features, _ = walk(client, f"/api/projects/{pid}/features")
    assert [len(p) for p in features] == [CAP, 1]
    runs, _ = walk(client, f"/api/projects/{pid}/agent-runs")
    assert [len(p) for p in runs] == [CAP, 1]
    small = client.get(f"/api/projects/{pid}/features?limit=2", headers=AUTH)
    assert len(small.json()) == 2
    assert "x-next-cursor" in small.headers


def test_the_whole_thread_default_is_capped_with_a_next_cursor(
    client: TestClient, moto_db: Db, capped: None
) -> None:
    run = make_run(client, moto_db)
    for n in range(CAP + 2):
        client.post(url(run), json={"content": f"m{n}"}, headers=AUTH)
    pages, cursors = walk(client, url(run))
    assert [[m["content"] for m in page] for page in pages] == [["m0", "m1", "m2"], ["m3", "m4"]]
    assert cursors == [pages[0][-1]["cursor"]]
    feature_pages, _ = walk(client, f"/api/features/{run.feature_id}/messages")
    assert [[m["content"] for m in p] for p in feature_pages] == [["m0", "m1", "m2"], ["m3", "m4"]]


def test_a_thread_under_the_cap_comes_whole_without_headers(
    client: TestClient, moto_db: Db
) -> None:
    run = make_run(client, moto_db)
    for n in range(4):
        client.post(url(run), json={"content": f"m{n}"}, headers=AUTH)
    response = client.get(url(run), headers=AUTH)
    assert [m["content"] for m in response.json()] == ["m0", "m1", "m2", "m3"]
    assert "x-next-cursor" not in response.headers


def test_run_logs_page_past_the_cap(client: TestClient, moto_db: Db, capped: None) -> None:
    run = make_run(client, moto_db)
    append_logs(moto_db, run=run, lines=[(LogStream.STDOUT, f"l{n}") for n in range(CAP + 1)])
    pages, _ = walk(client, url(run, "/logs"))
    assert [[line["line"] for line in p] for p in pages] == [["l0", "l1", "l2"], ["l3"]]


def test_limits_above_the_cap_and_unknown_cursors_are_422(client: TestClient) -> None:
    too_many = client.get(f"/api/projects?limit={paging.MAX_PAGE_ITEMS + 1}", headers=AUTH)
    assert too_many.status_code == 422
    unknown = client.get("/api/projects?after=prj_nope", headers=AUTH)
    assert unknown.status_code == 422
    assert unknown.json() == {
        "detail": "Invalid query parameter 'after': 'prj_nope' is not an item of this list "
        "(use the X-Next-Cursor header of the previous page)."
    }


def test_since_timestamp_is_a_key_condition(client: TestClient, moto_db: Db) -> None:
    """``since=<ISO timestamp>`` reads the ``by_timestamp`` LSI from the instant on, not all."""
    run = make_run(client, moto_db)
    for n in range(3):
        client.post(url(run), json={"content": f"m{n}"}, headers=AUTH)
    seen: list[dict[str, Any]] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        seen.append(params)

    moto_db.client.meta.events.register("provide-client-params.dynamodb.Query", capture)
    try:
        first = list_messages(moto_db, run_id=run.id)[0]
        seen.clear()
        later = list_messages(moto_db, run_id=run.id, since_timestamp=first.timestamp)
    finally:
        moto_db.client.meta.events.unregister("provide-client-params.dynamodb.Query", capture)
    assert [m.content for m in later] == ["m1", "m2"]
    assert [q.get("IndexName") for q in seen] == ["by_timestamp"]
    assert "#t > :since" in seen[0]["KeyConditionExpression"]
    assert "FilterExpression" not in seen[0]
    response = client.get(url(run), params={"since": first.timestamp}, headers=AUTH)
    assert [m["content"] for m in response.json()] == ["m1", "m2"]
