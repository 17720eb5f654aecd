"""Streams over real HTTP on the local engine: scoped, complete under a frozen clock,
exactly once across random hang-ups on two API processes, and retries store once.

Each test makes its own runs on a module-scoped store, so tests never see each
other's messages. ``tests/api/streaming`` covers the stream's wire contract; this
module proves the properties the reliability issue names.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

import api.store.messages as store_messages
from api.auth import derive_agent_secret, mint_agent_token
from api.store.db import Db
from api.store.messages import create_message, list_messages
from core.models import AgentRun, MessageSender, MessageType
from infra.local_engine import LocalEngine
from tests.conftest import AUTH, TOKEN
from tests.reliability.conftest import api_server, seed_run
from tests.support.servers import ApiServer
from tests.support.sse_reader import Follower, stream_url

pytestmark = pytest.mark.engine

#: Bound on any one test's streaming phase (a hang fails instead of blocking the suite).
FOLLOW_DEADLINE_S = 60.0
FROZEN = datetime(2026, 11, 24, 5, 0, 0, 123456, tzinfo=UTC)
FROZEN_MESSAGES = 1_000
STORM_RUNS = 2
STORM_MESSAGES = 1_000
STORM_CLIENTS = 10
STORM_WRITERS = 4
#: A storm client hangs up after this many messages (then resumes with Last-Event-ID).
STORM_LEAVE_EVERY = (15, 90)
RETRY_IDS = 30
#: Client-side timeouts for the first attempt: far below one store round trip.
TINY_TIMEOUTS_S = (0.0005, 0.001, 0.002, 0.004)


@pytest.fixture(scope="module")
def rel_api_b(
    engine: LocalEngine, rel_db: Db, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """A second API process on the same tables (scale-out: its writes reach ``rel_api`` by poll)."""
    server = api_server(engine.endpoint, rel_db, tmp_path_factory.mktemp("api"), "api-b").start()
    try:
        yield server
    finally:
        server.stop()


def complete(api: ApiServer, run: AgentRun) -> None:
    with api.client() as http:
        assert http.patch(
            f"/api/agent-runs/{run.id}", json={"status": "completed"}
        ).status_code == (200)


async def follow_all(followers: list[Follower], **kwargs: object) -> None:
    await asyncio.gather(*(f.follow(deadline_s=FOLLOW_DEADLINE_S, **kwargs) for f in followers))  # type: ignore[arg-type]


def assert_exactly_once_in_order(follower: Follower, db: Db, run: AgentRun) -> None:
    stored = list_messages(db, run_id=run.id)
    assert follower.closed_with == "completed", follower.errors
    assert follower.cursors() == [m.cursor for m in stored]
    assert follower.message_ids() == [m.id for m in stored]


# --- security: replay is scoped to the run asked for --------------------------------------


def test_sse_replay_is_scoped_to_the_requested_run(rel_api: ApiServer, rel_db: Db) -> None:
    mine, other = seed_run(rel_db), seed_run(rel_db)
    for run in (mine, other):
        for n in range(5):
            create_message(rel_db, run=run, sender=MessageSender.USER, content=f"{run.id} {n}")
    complete(rel_api, mine)

    async def read() -> Follower:
        async with httpx.AsyncClient(base_url=rel_api.url, headers=AUTH) as client:
            follower = Follower(client, mine.id)
            follower.last_event_id = "000000000002"  # a cursor both runs have
            await follow_all([follower])
            return follower

    follower = asyncio.run(read())
    stored = list_messages(rel_db, run_id=mine.id)
    assert follower.message_ids() == [m.id for m in stored[2:]]
    assert {m.run_id for m in stored} == {mine.id}
    assert not set(follower.message_ids()) & {m.id for m in list_messages(rel_db, run_id=other.id)}


def test_sse_route_refuses_missing_and_foreign_tokens_over_http(
    rel_api: ApiServer, rel_db: Db
) -> None:
    mine, other = seed_run(rel_db), seed_run(rel_db)
    foreign = mint_agent_token(derive_agent_secret(TOKEN), other.id)
    with httpx.Client(base_url=rel_api.url, timeout=10.0) as http:
        missing = http.get(stream_url(mine.id))
        assert missing.status_code == 401
        assert missing.json() == {
            "detail": "Missing bearer token: send the header 'Authorization: Bearer <token>'."
        }
        wrong = http.get(stream_url(mine.id), headers={"Authorization": f"Bearer {foreign}"})
        assert wrong.status_code == 403
        assert wrong.json() == {
            "detail": f"This agent token belongs to run {other.id}; it cannot act on run {mine.id}."
        }


# --- frozen clock --------------------------------------------------------------------------


def test_frozen_clock_1000_messages_are_stored_and_streamed(
    rel_api: ApiServer, rel_db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every message carries the same timestamp; none is lost, none overwritten, all streamed."""
    monkeypatch.setattr(store_messages, "utc_now", lambda: FROZEN)
    run = seed_run(rel_db)
    half = FROZEN_MESSAGES // 2
    for n in range(half):
        create_message(rel_db, run=run, sender=MessageSender.USER, content=f"frozen {n}")

    async def scenario() -> Follower:
        async with httpx.AsyncClient(base_url=rel_api.url, headers=AUTH) as client:
            follower = Follower(client, run.id)
            reading = asyncio.create_task(follower.follow(deadline_s=FOLLOW_DEADLINE_S))
            # The second half lands while the stream is open (another writer: the poll path).
            for n in range(half, FROZEN_MESSAGES):
                await asyncio.to_thread(
                    create_message,
                    rel_db,
                    run=run,
                    sender=MessageSender.USER,
                    content=f"frozen {n}",
                )
            await asyncio.to_thread(complete, rel_api, run)
            await reading
            return follower

    follower = asyncio.run(scenario())
    stored = list_messages(rel_db, run_id=run.id)
    frozen = [m for m in stored if m.type is MessageType.MESSAGE]
    assert len(frozen) == FROZEN_MESSAGES
    assert {m.timestamp for m in frozen} == {"2026-11-24T05:00:00.123456Z"}
    assert [m.content for m in frozen] == [f"frozen {n}" for n in range(FROZEN_MESSAGES)]
    assert_exactly_once_in_order(follower, rel_db, run)


# --- resume storm (reduced; the full one is bench/resume_storm.py) ---------------------------


def test_resume_storm_two_processes_exactly_once_in_order(
    rel_api: ApiServer, rel_api_b: ApiServer, rel_db: Db
) -> None:
    runs = [seed_run(rel_db) for _ in range(STORM_RUNS)]
    apis = [rel_api, rel_api_b]
    rng = random.Random(7)

    async def scenario() -> tuple[list[Follower], int]:
        clients = [httpx.AsyncClient(base_url=a.url, headers=AUTH, timeout=10.0) for a in apis]
        try:
            followers = [
                Follower(clients[i % 2], runs[i % STORM_RUNS].id) for i in range(STORM_CLIENTS)
            ]
            reading = asyncio.gather(
                *(
                    f.follow(
                        deadline_s=FOLLOW_DEADLINE_S,
                        leave_every=STORM_LEAVE_EVERY,
                        rng=random.Random(rng.random()),
                    )
                    for f in followers
                )
            )
            queue: asyncio.Queue[int] = asyncio.Queue()
            for n in range(STORM_MESSAGES):
                queue.put_nowait(n)
            acked = 0

            async def writer(w: int) -> None:
                nonlocal acked
                while not queue.empty():
                    n = queue.get_nowait()
                    run = runs[n % STORM_RUNS]
                    response = await clients[(n + w) % 2].post(
                        f"/api/agent-runs/{run.id}/messages",
                        json={"content": f"storm {n}", "id": f"storm-{n}"},
                    )
                    assert response.status_code == 201, response.text
                    acked += 1

            await asyncio.gather(*(writer(w) for w in range(STORM_WRITERS)))
            for i, run in enumerate(runs):
                response = await clients[i % 2].patch(
                    f"/api/agent-runs/{run.id}", json={"status": "completed"}
                )
                assert response.status_code == 200
            await reading
            return followers, acked
        finally:
            for client in clients:
                await client.aclose()

    followers, acked = asyncio.run(scenario())
    assert acked == STORM_MESSAGES
    for follower in followers:
        run = next(r for r in runs if r.id == follower.run_id)
        assert_exactly_once_in_order(follower, rel_db, run)
        assert follower.connects > 1  # it really did hang up and resume
    for run in runs:
        users = [m for m in list_messages(rel_db, run_id=run.id) if m.sender is MessageSender.USER]
        assert len(users) == STORM_MESSAGES // STORM_RUNS


# --- retries after client-side timeouts store one message ------------------------------------


def test_post_retried_after_client_timeouts_stores_one_message(
    rel_api: ApiServer, rel_db: Db
) -> None:
    run = seed_run(rel_db)
    timed_out = 0
    replays = 0
    with httpx.Client(base_url=rel_api.url, headers=AUTH) as http:
        for n in range(RETRY_IDS):
            body = {"content": f"retry {n}", "id": f"retry-{n}"}
            try:
                http.post(
                    f"/api/agent-runs/{run.id}/messages",
                    json=body,
                    timeout=TINY_TIMEOUTS_S[n % len(TINY_TIMEOUTS_S)],
                )
            except httpx.TimeoutException:
                timed_out += 1
            # The retry, and a second retry for good measure: same message every time.
            for _ in range(2):
                again = http.post(f"/api/agent-runs/{run.id}/messages", json=body, timeout=10.0)
                assert again.status_code in (200, 201), again.text
                assert again.json()["id"] == f"retry-{n}"
                replays += again.status_code == 200
    assert timed_out > 0
    assert replays >= RETRY_IDS  # every second retry at least is a replay
    stored = list_messages(rel_db, run_id=run.id)
    assert [m.id for m in stored] == [f"retry-{n}" for n in range(RETRY_IDS)]
