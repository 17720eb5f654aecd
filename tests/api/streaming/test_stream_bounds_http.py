"""Stream bounds over real HTTP (issue 13 item 7): a cap per principal, and a send timeout.

An agent token is worth one run; without a cap of its own it could open every
stream slot of the process. A client that connects and never reads would hold
its slot for ever without a send timeout: here a raw socket with a tiny
receive buffer asks for a thread of several megabytes and reads nothing; its
slot must come back once a send has waited ``OMAKASE_STREAM_SEND_TIMEOUT_SECONDS``.
"""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from api.auth import derive_agent_secret, mint_agent_token
from api.store.db import Db
from api.store.messages import create_message
from api.store.runs import create_run
from api.streaming.quota import PRINCIPAL_CAP_RETRY_AFTER_S as STREAM_CAP_RETRY_AFTER_S
from core.models import AgentRun, AgentRunCreate, AgentRunRole, MessageSender
from infra.local_engine import LocalEngine
from tests.api.agents.conftest import wait_for
from tests.api.streaming.conftest import start_api
from tests.conftest import TOKEN
from tests.support.sse import blocks, open_stream

pytestmark = pytest.mark.engine

#: Enough bytes that the kernel's socket buffers and uvicorn's write buffer fill up.
BIG_MESSAGES = 250
BIG_MESSAGE_CHARS = 30_000
#: The smallest receive buffer the kernel grants (it doubles and floors the value).
TINY_RCVBUF = 4_096


def agent_headers(run_id: str) -> dict[str, str]:
    token = mint_agent_token(derive_agent_secret(TOKEN), run_id)
    return {"Authorization": f"Bearer {token}"}


def new_run(db: Db) -> AgentRun:
    return create_run(
        db, data=AgentRunCreate(project_id="prj_t", feature_id="feat_t", role=AgentRunRole.CODER)
    )


def try_stream(
    client: httpx.Client, run_id: str, headers: dict[str, str]
) -> tuple[int, str | None, object]:
    """Open and at once close a stream: its status, Retry-After and (refused) JSON body."""
    with client.stream(
        "GET", f"/api/agent-runs/{run_id}/messages/stream", headers=headers
    ) as response:
        if response.status_code == 200:
            return 200, None, None
        response.read()
        return response.status_code, response.headers.get("retry-after"), response.json()


def stream_status(client: httpx.Client, run_id: str, headers: dict[str, str]) -> int:
    return try_stream(client, run_id, headers)[0]


def test_each_agent_token_has_its_own_stream_cap(
    engine: LocalEngine, stream_db: Db, tmp_path: Path
) -> None:
    run, other = new_run(stream_db), new_run(stream_db)
    server = start_api(engine, stream_db, tmp_path, "per-agent", OMAKASE_MAX_AGENT_STREAMS="1")
    try:
        with (
            server.client() as client,
            client.stream(
                "GET", f"/api/agent-runs/{run.id}/messages/stream", headers=agent_headers(run.id)
            ) as first,
        ):
            assert first.status_code == 200
            held = blocks(first)
            next(held)  # the first stream is served and stays open
            assert try_stream(client, run.id, agent_headers(run.id)) == (
                429,
                str(STREAM_CAP_RETRY_AFTER_S),
                {
                    "detail": "This agent token already holds 1 open stream (the limit); "
                    f"close one or retry in {STREAM_CAP_RETRY_AFTER_S} seconds."
                },
            )
            # Other principals are not affected by this agent's streams.
            assert stream_status(client, other.id, agent_headers(other.id)) == 200
            with open_stream(client, run.id) as operator:
                assert operator.status_code == 200
    finally:
        server.stop()


def test_a_client_that_never_reads_cannot_hold_a_slot(
    engine: LocalEngine, stream_db: Db, tmp_path: Path
) -> None:
    run = new_run(stream_db)
    for n in range(BIG_MESSAGES):
        create_message(
            stream_db, run=run, sender=MessageSender.USER, content=f"{n} " + "x" * BIG_MESSAGE_CHARS
        )
    server = start_api(
        engine,
        stream_db,
        tmp_path,
        "send-timeout",
        OMAKASE_MAX_AGENT_STREAMS="1",
        # Long enough that a loaded machine still sees the slot taken before it is freed.
        OMAKASE_STREAM_SEND_TIMEOUT_SECONDS="4",
    )
    stalled = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, TINY_RCVBUF)
        stalled.connect(("127.0.0.1", server.port))
        token = agent_headers(run.id)["Authorization"]
        stalled.sendall(
            f"GET /api/agent-runs/{run.id}/messages/stream HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nAuthorization: {token}\r\n\r\n".encode()
        )
        with server.client() as client:
            # The stalled stream holds the agent's only slot at first ...
            wait_for(
                lambda: stream_status(client, run.id, agent_headers(run.id)) == 429,
                "the stalled stream to take the slot",
            )
            # ... and loses it once a send has waited past the timeout.
            wait_for(
                lambda: stream_status(client, run.id, agent_headers(run.id)) == 200,
                "the stalled stream's slot to come back",
            )
    finally:
        stalled.close()
        server.stop()
