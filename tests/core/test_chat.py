"""``core.chat.AgentChat`` and its CLI against the real API over HTTP (local engine)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import httpx
import pytest

from api.services.bus import MessageBus
from api.services.messages import post_message
from api.store.db import Db
from api.store.runs import set_run_status
from core.chat import AgentChat, ChatEndedError, ChatSnapshot
from core.cursor import format_cursor
from core.models import (
    AgentRun,
    AgentRunRole,
    AgentRunStatus,
    DeliveryReceipt,
    MessageSender,
    MessageType,
    ReceiptState,
)
from tests.conftest import TOKEN
from tests.support.process import ROOT
from tests.support.servers import ApiServer

pytestmark = pytest.mark.engine

#: Upper bound for any expected state change (a failing test, not a timing claim).
WAIT_S = 15.0


def post(api: ApiServer, run: AgentRun, content: str) -> dict[str, Any]:
    with api.client() as client:
        response = client.post(f"/api/agent-runs/{run.id}/messages", json={"content": content})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def chat_for(api: ApiServer, run_id: str) -> AgentChat:
    return AgentChat(run_id, base_url=api.url, token=TOKEN)


def contents(snapshot: ChatSnapshot) -> list[str]:
    return [m.content for m in snapshot.messages]


def test_history_then_optimistic_send_shown_once(api: ApiServer, run: AgentRun) -> None:
    post(api, run, "first")
    post(api, run, "second")
    with chat_for(api, run.id) as chat:
        chat.wait_until(lambda s: s.is_connected and len(s.messages) == 2, WAIT_S)
        client_id = chat.send_message("  third  ")
        optimistic = chat.snapshot()
        assert client_id.startswith("cli-")
        assert client_id in optimistic.pending_ids
        assert contents(optimistic) == ["first", "second", "third"]
        # Stored (POST answer) and echoed by the stream (last event id = its cursor).
        done = chat.wait_until(
            lambda s: not s.pending_ids and chat.last_event_id == format_cursor(3), WAIT_S
        )
        assert contents(done) == ["first", "second", "third"]
        stored = done.messages[-1]
        assert (stored.id, stored.cursor, stored.sender) == (
            client_id,
            format_cursor(3),
            MessageSender.USER,
        )
        assert stored.receipt is not None
        assert stored.receipt.state is ReceiptState.QUEUED
        assert done.error is None


def test_refused_send_is_rolled_back_with_the_reason(
    api: ApiServer, run: AgentRun, stream_db: Db
) -> None:
    with chat_for(api, run.id) as chat:
        chat.wait_until(lambda s: s.is_connected, WAIT_S)
        # Ended behind the stream's back (no notice): the POST is refused with 409.
        set_run_status(stream_db, run_id=run.id, status=AgentRunStatus.COMPLETED)
        chat.send_message("too late")
        after = chat.wait_until(lambda s: s.error is not None, WAIT_S)
        assert after.error == (
            f'Not sent: "too late" — Agent run {run.id} is no longer active (completed).'
        )
        assert after.messages == ()
        assert after.pending_ids == frozenset()


def test_receipt_notice_updates_the_user_message(
    api: ApiServer, run: AgentRun, stream_db: Db
) -> None:
    with chat_for(api, run.id) as chat:
        client_id = chat.send_message("use the v2 API")
        chat.wait_until(lambda s: not s.pending_ids and len(s.messages) == 1, WAIT_S)
        receipt = DeliveryReceipt(
            state=ReceiptState.DELIVERED, run_id=run.id, role=AgentRunRole.CODER, step=2
        )
        post_message(
            stream_db,
            MessageBus(),
            run=run,
            sender=MessageSender.AGENT,
            role=run.role,
            type=MessageType.STATUS,
            content="Delivered to Nori at step 2",
            receipt=receipt,
            receipt_for=client_id,
        )
        done = chat.wait_until(lambda s: len(s.messages) == 2, WAIT_S)
        target = done.messages[0]
        assert target.id == client_id
        assert target.receipt == receipt
        assert done.messages[1].receipt_for == client_id


def test_close_event_ends_the_chat(api: ApiServer, run: AgentRun) -> None:
    with chat_for(api, run.id) as chat:
        chat.wait_until(lambda s: s.is_connected, WAIT_S)
        with api.client() as client:
            client.patch(f"/api/agent-runs/{run.id}", json={"status": "completed"})
        ended = chat.wait_until(lambda s: s.ended, WAIT_S)
        assert ended.end_status is AgentRunStatus.COMPLETED
        assert ended.stopped
        assert not ended.is_connected
        assert contents(ended) == ["Nori completed step 1"]
        with pytest.raises(ChatEndedError, match="This conversation has ended"):
            chat.send_message("hello?")


def test_fatal_stream_error_stops_with_the_reason(api: ApiServer) -> None:
    with chat_for(api, "run_nope") as chat:
        stopped = chat.wait_until(lambda s: s.stopped, WAIT_S)
        assert stopped.error == "Agent run run_nope was not found."
        assert not stopped.ended


def test_resumes_after_a_server_restart_without_loss_or_repeat(
    engine: Any, stream_db: Db, run: AgentRun, tmp_path: Any
) -> None:
    from tests.api.streaming.conftest import start_api

    server = start_api(engine, stream_db, tmp_path, "restart")
    try:
        # A short backoff ceiling: the test waits for the restart, not for the backoff.
        chat = AgentChat(run.id, base_url=server.url, token=TOKEN, reconnect_max_s=1.0)
        with chat:
            post(server, run, "before")
            chat.wait_until(lambda s: s.is_connected and len(s.messages) == 1, WAIT_S)
            server.stop()
            chat.wait_until(lambda s: not s.is_connected, WAIT_S)
            for text in ("while down 1", "while down 2"):
                post_message(
                    stream_db, MessageBus(), run=run, sender=MessageSender.USER, content=text
                )
            server.start()
            done = chat.wait_until(lambda s: s.is_connected and len(s.messages) == 3, WAIT_S)
            assert contents(done) == ["before", "while down 1", "while down 2"]
            assert [m.cursor for m in done.messages] == [format_cursor(i) for i in (1, 2, 3)]
        assert chat._thread is not None
        assert not chat._thread.is_alive()
    finally:
        server.stop()


# --- CLI ------------------------------------------------------------------------------


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "core.chat", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_send_and_tail(api: ApiServer, run: AgentRun) -> None:
    env = {"OMAKASE_API_URL": api.url, "OMAKASE_API_TOKEN": TOKEN}
    sent = cli("send", run.id, "please add tests", env=env)
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.strip().endswith("you: please add tests  [queued]")
    with httpx.Client(base_url=api.url, headers=api.headers) as client:
        client.patch(f"/api/agent-runs/{run.id}", json={"status": "completed"})
    tail = cli("tail", run.id, env=env)
    assert tail.returncode == 0, tail.stderr
    lines = [line.split("  ", 1)[1] for line in tail.stdout.strip().splitlines()]
    assert lines == ["you: please add tests  [queued]", "· Nori completed step 1"]
    assert "-- the run has ended (completed)" in tail.stderr
    # history reads the thread page by page (1 message a page here) to its end.
    history = cli("history", run.id, "--page-size", "1", "--json", env=env)
    assert history.returncode == 0, history.stderr
    contents = [json.loads(line)["content"] for line in history.stdout.splitlines()]
    assert contents == ["please add tests", "Nori completed step 1"]


def test_cli_errors(api: ApiServer) -> None:
    missing = cli("send", "run_x", "hi", env={"OMAKASE_API_TOKEN": ""})
    assert missing.returncode == 2
    assert "error: OMAKASE_API_TOKEN is not set" in missing.stderr
    env = {"OMAKASE_API_URL": api.url, "OMAKASE_API_TOKEN": TOKEN}
    unknown = cli("send", "run_nope", "hi", env=env)
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "error: 404: Agent run run_nope was not found."
    blank = cli("send", "run_nope", "   ", env=env)
    assert blank.returncode == 2
    assert blank.stderr.strip() == "error: Message content must not be empty or only whitespace."
    tail = cli("tail", "run_nope", env=env)
    assert tail.returncode == 1
    assert tail.stderr.strip() == "error: Agent run run_nope was not found."
    bad_token = cli("tail", "run_nope", env={**env, "OMAKASE_API_TOKEN": "wrong"})
    assert bad_token.returncode == 1
    assert bad_token.stderr.strip() == "error: The bearer token is not valid for this service."
