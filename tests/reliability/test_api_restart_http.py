"""Open streams across an API restart: they resume by cursor and deliver exactly once.

``tests/api/agents/test_restart_http.py`` (the agent side) proves a pending relay
survives a restart; this module proves the viewer's side: ten streams are open
on the API when it is stopped (SIGTERM) mid-conversation, a new process starts
on the same address, and every viewer — reconnecting with ``Last-Event-ID`` like
a browser — ends with every message exactly once, in order, including the
messages posted while no API process was running (by another writer, straight
to the store) and after the restart.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from api.store.db import Db
from api.store.messages import create_message, list_messages
from core.models import MessageSender
from infra.local_engine import LocalEngine
from tests.conftest import AUTH
from tests.reliability.conftest import api_server, seed_run
from tests.support.sse_reader import Follower

pytestmark = pytest.mark.engine

VIEWERS = 10
BEFORE, WHILE_DOWN, AFTER = 60, 20, 60
FOLLOW_DEADLINE_S = 90.0


def test_open_streams_resume_by_cursor_across_an_api_restart(
    engine: LocalEngine, rel_db: Db, tmp_path: Path
) -> None:
    run = seed_run(rel_db)
    first = api_server(engine.endpoint, rel_db, tmp_path, "first").start()
    port = first.port
    second = api_server(engine.endpoint, rel_db, tmp_path, "second")
    second.port = port
    second.env["OMAKASE_API_PORT"] = str(port)
    url = f"/api/agent-runs/{run.id}/messages"

    async def scenario() -> list[Follower]:
        async with httpx.AsyncClient(base_url=first.url, headers=AUTH, timeout=10.0) as http:
            halfway = asyncio.Event()
            followers = [Follower(http, run.id) for _ in range(VIEWERS)]

            def on_message(_: object, __: float) -> None:
                if min(len(f.received) for f in followers) >= BEFORE // 2:
                    halfway.set()

            for follower in followers:
                follower.on_message = on_message
            reading = asyncio.gather(*(f.follow(deadline_s=FOLLOW_DEADLINE_S) for f in followers))
            for n in range(BEFORE):
                assert (await http.post(url, json={"content": f"before {n}"})).status_code == 201
            await asyncio.wait_for(halfway.wait(), FOLLOW_DEADLINE_S)
            await asyncio.to_thread(first.stop)
            for n in range(WHILE_DOWN):
                await asyncio.to_thread(
                    create_message, rel_db, run=run, sender=MessageSender.USER, content=f"down {n}"
                )
            await asyncio.to_thread(second.start)
            for n in range(AFTER):
                assert (await http.post(url, json={"content": f"after {n}"})).status_code == 201
            done = await http.patch(f"/api/agent-runs/{run.id}", json={"status": "completed"})
            assert done.status_code == 200
            await reading
            return followers

    try:
        followers = asyncio.run(scenario())
    finally:
        first.stop()
        second.stop()
    stored = list_messages(rel_db, run_id=run.id)
    assert len([m for m in stored if m.sender is MessageSender.USER]) == BEFORE + WHILE_DOWN + AFTER
    for follower in followers:
        assert follower.closed_with == "completed", follower.errors
        assert follower.cursors() == [m.cursor for m in stored]
        assert follower.connects >= 2  # the restart really broke the stream
