"""The feature stream over real HTTP: every run's messages, exactly once, across two processes.

A feature gets four runs (steps 1-4) that stay active while messages are posted
round-robin into all of them through both API processes, so messages keep
landing in older runs' threads while later runs run (as the relay's delivery
notices do). Readers drop their connection at random and resume with the last
event id — as a header or as ``?lastEventId=`` — on a random process. The
feature then ends; every reader must hold every message of every run exactly
once, each run's in cursor order, and see ``event: close``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from api.auth import derive_agent_secret, mint_agent_token
from api.store.codec import to_item
from api.store.db import Db
from api.store.features import update_feature
from api.store.ids import new_id
from api.store.runs import create_run
from core.models import (
    AgentRun,
    AgentRunCreate,
    AgentRunRole,
    Feature,
    FeatureStatus,
    iso,
    utc_now,
)
from core.tables import FEATURES
from tests.conftest import TOKEN
from tests.support.servers import ApiServer
from tests.support.sse import STREAM_READ_TIMEOUT_S, Block, blocks

pytestmark = pytest.mark.engine

ROLES = [AgentRunRole.ARCHITECT, AgentRunRole.CODER, AgentRunRole.REVIEWER, AgentRunRole.TESTER]
MESSAGES = 240
WRITERS = 4
READERS = 6
MAX_EVENTS_PER_CONNECTION = 50
MAX_RECONNECTS = 500


def open_feature_stream(
    client: httpx.Client, feature_id: str, *, last_event_id: str | None = None, query: bool = False
) -> Any:
    headers = {"Last-Event-ID": last_event_id} if last_event_id and not query else {}
    params = {"lastEventId": last_event_id} if last_event_id and query else {}
    return client.stream(
        "GET",
        f"/api/features/{feature_id}/messages/stream",
        headers=headers,
        params=params,
        timeout=httpx.Timeout(10.0, read=STREAM_READ_TIMEOUT_S),
    )


def new_feature(server: ApiServer, db: Db, runs: int = 4) -> tuple[str, list[AgentRun]]:
    """A feature with ``runs`` active runs that no pipeline touches: it waits on a
    dependency that does not exist, so the API processes' watchers never start it."""
    with server.client() as client:
        project = client.post("/api/projects", json={"name": "stream"}).json()
    now = iso(utc_now())
    feature = Feature(
        id=new_id("feat"),
        project_id=project["id"],
        name="Login",
        dependencies=["feat_never"],
        created_at=now,
        updated_at=now,
    ).model_dump(by_alias=True)
    db.client.put_item(TableName=db.table(FEATURES), Item=to_item(feature))
    created = []
    for step in range(1, runs + 1):
        run = create_run(
            db,
            data=AgentRunCreate(
                project_id=project["id"],
                feature_id=feature["id"],
                role=ROLES[(step - 1) % len(ROLES)],
                step=step,
            ),
        )
        update_feature(db, feature_id=feature["id"], current_run_id=run.id)
        created.append(run)
    return feature["id"], created


def end_feature(server: ApiServer, db: Db, feature_id: str, runs: list[AgentRun]) -> None:
    with server.client() as client:
        for run in runs:
            response = client.patch(f"/api/agent-runs/{run.id}", json={"status": "completed"})
            assert response.status_code == 200, response.text
    update_feature(db, feature_id=feature_id, status=FeatureStatus.PASSING)


def write(server: ApiServer, runs: list[AgentRun], numbers: list[int]) -> None:
    with server.client() as client:
        for n in numbers:
            run = runs[n % len(runs)]
            response = client.post(f"/api/agent-runs/{run.id}/messages", json={"content": f"m{n}"})
            assert response.status_code == 201, response.text


def threads(server: ApiServer, runs: list[AgentRun]) -> list[list[dict[str, Any]]]:
    with server.client() as client:
        return [client.get(f"/api/agent-runs/{r.id}/messages").json() for r in runs]


def message_blocks(response: httpx.Response) -> Iterator[Block]:
    for block in blocks(response):
        if block.is_message or block.event == "close":
            yield block


def read_all(
    servers: list[ApiServer], feature_id: str, seed: int
) -> tuple[list[dict[str, Any]], int]:
    """Read until ``close``, reconnecting at random; returns the messages and reconnects."""
    rng = random.Random(seed)
    received: list[dict[str, Any]] = []
    last_id: str | None = None
    for connection in range(MAX_RECONNECTS):
        server = rng.choice(servers)
        budget = rng.randint(1, MAX_EVENTS_PER_CONNECTION)
        query = rng.random() < 0.5
        with (
            server.client() as client,
            open_feature_stream(client, feature_id, last_event_id=last_id, query=query) as r,
        ):
            assert r.status_code == 200, r.read()
            for block in message_blocks(r):
                if block.event == "close":
                    assert block.id is None
                    assert block.json() == {"status": "passing"}
                    return received, connection
                received.append(block.json())
                assert block.id is not None
                assert block.id.startswith("f.")
                last_id = block.id
                budget -= 1
                if budget == 0:
                    break
    raise AssertionError(f"reader {seed} did not see the stream close")


def assert_exactly_once(received: list[dict[str, Any]], stored: list[list[dict[str, Any]]]) -> None:
    everything = [m for thread in stored for m in thread]
    assert len(received) == len(everything)
    assert sorted(m["id"] for m in received) == sorted(m["id"] for m in everything)
    for thread in stored:
        run_id = thread[0]["runId"]
        assert [m for m in received if m["runId"] == run_id] == thread  # in cursor order


@pytest.mark.slow
def test_four_runs_resumed_at_random_on_two_processes_exactly_once(
    api: ApiServer, api_b: ApiServer, stream_db: Db
) -> None:
    servers = [api, api_b]
    feature_id, runs = new_feature(api, stream_db)
    shares = [list(range(i, MESSAGES, WRITERS)) for i in range(WRITERS)]
    with ThreadPoolExecutor(READERS + WRITERS) as pool:
        readers = [pool.submit(read_all, servers, feature_id, seed) for seed in range(READERS)]
        writers = [
            pool.submit(write, servers[i % 2], runs, share) for i, share in enumerate(shares)
        ]
        for writer in writers:
            writer.result()
        end_feature(api_b, stream_db, feature_id, runs)
        results = [reader.result() for reader in readers]
    stored = threads(api, runs)
    assert sum(len(t) for t in stored) == MESSAGES + len(runs)  # and a completion notice each
    assert len({m["runId"] for received, _ in results for m in received}) == len(runs)
    for received, _ in results:
        assert_exactly_once(received, stored)
    assert sum(connections for _, connections in results) >= READERS  # they did resume


def test_resume_from_the_middle_on_the_other_process_gets_the_rest_once_in_order(
    api: ApiServer, api_b: ApiServer, stream_db: Db
) -> None:
    feature_id, runs = new_feature(api, stream_db)
    write(api, runs, list(range(0, 40, 2)))
    write(api_b, runs, list(range(1, 40, 2)))
    end_feature(api, stream_db, feature_id, runs)
    stored = threads(api, runs)
    in_run_order = [m for thread in stored for m in thread]

    def read(
        server: ApiServer, last_id: str | None, stop_after: int | None
    ) -> tuple[list[Any], str | None]:
        seen: list[Any] = []
        with (
            server.client() as client,
            open_feature_stream(client, feature_id, last_event_id=last_id) as response,
        ):
            assert response.status_code == 200
            for block in message_blocks(response):
                if block.event == "close":
                    return seen, None
                seen.append(block.json())
                if len(seen) == stop_after:
                    return seen, block.id
        raise AssertionError("the stream ended without close")

    whole, _ = read(api, None, None)
    assert whole == in_run_order  # a reader after the end: run by run, each in order
    first, middle_id = read(api, None, 23)
    rest, _ = read(api_b, middle_id, None)
    assert first + rest == in_run_order
    # Resuming with the last id (from either process) gets nothing but the close.
    resumed_id = read(api_b, None, len(in_run_order))[1]
    assert resumed_id is not None
    again, _ = read(api, resumed_id, None)
    assert again == []


def test_feature_stream_codes_and_keep_alive(api: ApiServer, stream_db: Db) -> None:
    feature_id, runs = new_feature(api, stream_db, runs=1)
    with api.client() as client:
        assert client.get("/api/features/feat_nope/messages/stream").status_code == 404
        bad = client.get(
            f"/api/features/{feature_id}/messages/stream", headers={"Last-Event-ID": "000000000001"}
        )
        assert bad.status_code == 422
        assert "feature stream event id" in bad.json()["detail"]
        agent = {
            "Authorization": f"Bearer {mint_agent_token(derive_agent_secret(TOKEN), runs[0].id)}"
        }
        anonymous = httpx.get(f"{api.url}/api/features/{feature_id}/messages/stream")
        assert anonymous.status_code == 401
        assert (
            client.get(f"/api/features/{feature_id}/messages/stream", headers=agent).status_code
            == 403
        )
        with open_feature_stream(client, feature_id) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            for block in blocks(response):
                if block.comments:
                    assert block.comments == ["keep-alive"]
                    break
