"""Exactly once, in order: 2,000 messages from two API processes, 20 readers reconnecting.

Writers post through both processes at once (so commits interleave across
processes and the per-run append resolves conflicts); each reader drops its
connection after a random number of events and resumes with ``Last-Event-ID``
on a random process. When the writers are done the run completes, every stream
ends with ``event: close``, and each reader must hold every message exactly
once, in cursor order.
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from core.cursor import format_cursor
from core.models import AgentRun
from tests.support.servers import ApiServer
from tests.support.sse import blocks, open_stream

pytestmark = [pytest.mark.engine, pytest.mark.slow]

TOTAL_MESSAGES = 2_000
WRITERS_PER_PROCESS = 4
READERS = 20
#: A reader drops its connection after 1..this many message events.
MAX_EVENTS_PER_CONNECTION = 300
#: Reconnects one reader may make before the test calls it stuck.
MAX_RECONNECTS = 1_000


def write(server: ApiServer, run: AgentRun, contents: list[str]) -> None:
    with server.client() as client:
        for content in contents:
            response = client.post(f"/api/agent-runs/{run.id}/messages", json={"content": content})
            assert response.status_code == 201, response.text


def read(servers: list[ApiServer], run: AgentRun, seed: int) -> tuple[list[dict[str, Any]], int]:
    """Read until ``close``, reconnecting at random; returns the messages and reconnects."""
    rng = random.Random(seed)
    received: list[dict[str, Any]] = []
    last_id: str | None = None
    for connection in range(MAX_RECONNECTS):
        server = rng.choice(servers)
        budget = rng.randint(1, MAX_EVENTS_PER_CONNECTION)
        with server.client() as client, open_stream(client, run.id, last_event_id=last_id) as r:
            assert r.status_code == 200
            for block in blocks(r):
                if block.event == "close":
                    assert block.id is None
                    return received, connection
                if block.is_message:
                    received.append(block.json())
                    last_id = block.id
                    budget -= 1
                    if budget == 0:
                        break
    raise AssertionError(f"reader {seed} did not see the stream close")


def test_every_reader_gets_every_message_once_in_order(
    api: ApiServer, api_b: ApiServer, run: AgentRun
) -> None:
    servers = [api, api_b]
    contents = [f"message {i}" for i in range(TOTAL_MESSAGES)]
    shares = [contents[i :: WRITERS_PER_PROCESS * 2] for i in range(WRITERS_PER_PROCESS * 2)]
    with ThreadPoolExecutor(READERS + len(shares)) as pool:
        readers = [pool.submit(read, servers, run, seed) for seed in range(READERS)]
        writers = [pool.submit(write, servers[i % 2], run, share) for i, share in enumerate(shares)]
        for writer in writers:
            writer.result()
        with httpx.Client(base_url=api_b.url, headers=api_b.headers) as client:
            response = client.patch(f"/api/agent-runs/{run.id}", json={"status": "completed"})
            assert response.status_code == 200
        results = [reader.result() for reader in readers]

    expected_count = TOTAL_MESSAGES + 1  # and the completion notice
    with api.client() as client:
        thread = client.get(f"/api/agent-runs/{run.id}/messages").json()
    assert len(thread) == expected_count
    assert sorted(m["content"] for m in thread[:-1]) == sorted(contents)
    assert thread[-1]["content"] == "Nori completed step 1"
    reconnects = 0
    for received, connections in results:
        reconnects += connections
        assert [m["cursor"] for m in received] == [
            format_cursor(i) for i in range(1, expected_count + 1)
        ]
        assert received == thread
    assert reconnects >= READERS  # the readers really did resume, many times
