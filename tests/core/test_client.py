"""ApiClient against the real app (in-process over moto) and against a closed port."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.store.db import Db
from api.store.runs import create_run
from core.client import ApiClient, ApiError, ApiUnavailable
from core.models import AgentRunCreate, AgentRunRole, Feature, Project
from infra.local_engine import free_port
from tests.conftest import TOKEN
from tests.support.http import as_httpx


@pytest.fixture
def api(client: TestClient) -> ApiClient:
    return ApiClient("http://testserver", TOKEN, http=as_httpx(client))


def test_projects_agents_and_features_come_back_as_models(api: ApiClient) -> None:
    project = api.create_project("Ramen shop", description="noodles", max_concurrency=3)
    assert isinstance(project, Project)
    assert project.max_concurrency == 3
    assert [p.id for p in api.list_projects()] == [project.id]
    assert api.get_project(project.id).name == "Ramen shop"
    assert [a.name for a in api.list_agents(project.id)] == ["Miso", "Nori", "Koji", "Toro"]

    feature = api.create_feature(project.id, "Broth", description="rich", priority=5)
    assert isinstance(feature, Feature)
    assert api.get_feature(feature.id).priority == 5
    assert [f.id for f in api.list_features(project.id)] == [feature.id]


def test_runs_and_logs(api: ApiClient, moto_db: Db) -> None:
    project = api.create_project("Sushi bar")
    feature = api.create_feature(project.id, "Rice")
    run = create_run(
        moto_db,
        data=AgentRunCreate(project_id=project.id, feature_id=feature.id, role=AgentRunRole.CODER),
    )
    assert [r.id for r in api.list_runs(project.id)] == [run.id]
    assert api.get_run(run.id).role is AgentRunRole.CODER
    assert api.run_logs(run.id) == []
    assert api.project_logs(project.id, limit=10) == []


def test_an_error_status_raises_api_error_with_the_detail(api: ApiClient) -> None:
    with pytest.raises(ApiError) as caught:
        api.get_project("nope")
    assert caught.value.status == 404
    assert "nope" in caught.value.detail
    with pytest.raises(ApiError) as invalid:
        api.create_project("   ")
    assert invalid.value.status == 422


def test_a_wrong_token_is_an_auth_error(client: TestClient) -> None:
    api = ApiClient("http://testserver", "wrong", http=as_httpx(client))
    with pytest.raises(ApiError) as caught:
        api.list_projects()
    assert caught.value.status == 401
    assert caught.value.is_auth_error
    assert caught.value.detail == "The bearer token is not valid for this service."


def test_no_server_raises_api_unavailable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with ApiClient(url, TOKEN, timeout=2.0) as api, pytest.raises(ApiUnavailable) as caught:
        api.list_projects()
    assert caught.value.status == 0
    assert caught.value.detail.startswith(f"Cannot reach the API at {url}")


def test_every_list_follows_the_pages_to_the_last(client: TestClient, moto_db: Db) -> None:
    """A page size of 2 (``limit``): each list answers in several pages, linked by
    ``Link: rel="next"`` / ``X-Next-Cursor``, and the client reads them all."""
    http = as_httpx(client)
    pages: list[str] = []
    http.event_hooks["response"] = [
        lambda response: pages.append(response.headers.get("X-Next-Cursor", "last"))
    ]
    api = ApiClient("http://testserver", TOKEN, http=http, page_size=2)
    projects = [api.create_project(f"Shop {n}") for n in range(3)]
    project = projects[0]
    features = [api.create_feature(project.id, f"Dish {n}") for n in range(5)]
    runs = [
        create_run(
            moto_db,
            data=AgentRunCreate(project_id=project.id, feature_id=features[0].id, role=role),
        )
        for role in (AgentRunRole.ARCHITECT, AgentRunRole.CODER, AgentRunRole.REVIEWER)
    ]
    for run in runs:
        for n in range(5):
            api.post_message(run.id, f"{run.role.value} note {n}")

    def read(call: Callable[[], list[Any]]) -> list[Any]:
        pages.clear()
        items = call()
        assert len(pages) > 1, "a single page: nothing proved"
        assert pages[-1] == "last"
        return items

    assert {p.id for p in read(api.list_projects)} == {p.id for p in projects}
    assert [f.id for f in read(lambda: api.list_features(project.id))] == [f.id for f in features]
    assert {r.id for r in read(lambda: api.list_runs(project.id))} == {r.id for r in runs}
    thread = read(lambda: api.list_messages(runs[1].id))
    assert [m.content for m in thread] == [f"coder note {n}" for n in range(5)]
    assert len(read(lambda: api.feature_messages(features[0].id))) == 15
    assert (
        len(read(lambda: [m for p in api.iter_messages(runs[0].id, page_size=2) for m in p])) == 5
    )
    rows = read(lambda: [r for p in api.iter_message_rows(runs[2].id, page_size=2) for r in p])
    assert [r["content"] for r in rows] == [f"reviewer note {n}" for n in range(5)]
    # An explicit limit is one page, as asked.
    assert len(api.list_messages(runs[1].id, limit=3)) == 3
