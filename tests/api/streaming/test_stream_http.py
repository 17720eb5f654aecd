"""The SSE stream over real HTTP (``python -m api`` on a free port, the local engine)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from api.auth import derive_agent_secret, mint_agent_token
from api.services.bus import MessageBus
from api.services.messages import post_message
from api.store.db import Db
from api.streaming.wire import RECONNECT_HINT_MS
from core.models import AgentRun, MessageSender
from tests.api.streaming.conftest import start_api
from tests.conftest import TOKEN
from tests.support.servers import ApiServer
from tests.support.sse import blocks, open_stream, take_messages

pytestmark = pytest.mark.engine


def post(client: httpx.Client, run: AgentRun, content: str, **extra: Any) -> dict[str, Any]:
    response = client.post(f"/api/agent-runs/{run.id}/messages", json={"content": content, **extra})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def patch(client: httpx.Client, run: AgentRun, status: str) -> None:
    response = client.patch(f"/api/agent-runs/{run.id}", json={"status": status})
    assert response.status_code == 200, response.text


def test_initial_batch_then_live_messages(api: ApiServer, run: AgentRun, stream_db: Db) -> None:
    with api.client() as client:
        posted = [post(client, run, f"before {i}") for i in range(3)]
        with open_stream(client, run.id) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            stream = blocks(response)
            first = next(stream)
            assert first.retry == RECONNECT_HINT_MS
            assert take_messages(stream, 3) == posted
            live = post(client, run, "while watching")
            assert take_messages(stream, 1) == [live]
            # A write by another process (no bus here): found by the hub's poll.
            other, _ = post_message(
                stream_db, MessageBus(), run=run, sender=MessageSender.USER, content="elsewhere"
            )
            assert take_messages(stream, 1) == [other.model_dump(mode="json", by_alias=True)]


def test_resume_gives_exactly_the_later_messages(api: ApiServer, run: AgentRun) -> None:
    with api.client() as client:
        posted = [post(client, run, f"m{i}") for i in range(5)]
        patch(client, run, "completed")
        with open_stream(client, run.id, last_event_id=posted[1]["cursor"]) as response:
            resumed = list(blocks(response))
        with open_stream(client, run.id, lastEventId=posted[3]["cursor"]) as response:
            by_query = list(blocks(response))
    contents = [b.json()["content"] for b in resumed if b.is_message]
    assert contents == ["m2", "m3", "m4", "Nori completed step 1"]
    assert [b.json()["content"] for b in by_query if b.is_message] == [
        "m4",
        "Nori completed step 1",
    ]


def test_close_event_after_completion_has_no_id(api: ApiServer, run: AgentRun) -> None:
    with api.client() as client:
        post(client, run, "hello")
        with open_stream(client, run.id) as response:
            stream = blocks(response)
            assert [m["content"] for m in take_messages(stream, 1)] == ["hello"]
            patch(client, run, "failed")
            rest = list(stream)  # ends: the server closes the stream after `close`
    messages = [b.json() for b in rest if b.is_message]
    assert [(m["type"], m["content"]) for m in messages] == [
        ("error", "Nori failed: no error given")
    ]
    closes = [b for b in rest if b.event == "close"]
    assert len(closes) == 1
    assert closes[0].id is None
    assert closes[0].json() == {"status": "failed"}
    assert rest[-1] is closes[0]


def test_keep_alive_comments(api: ApiServer, run: AgentRun) -> None:
    """The test servers ping every 0.3 s; the first keep-alive ends the read."""
    with api.client() as client, open_stream(client, run.id) as response:
        for block in blocks(response):
            if block.comments:
                assert block.comments == ["keep-alive"]
                assert (block.id, block.event, block.data) == (None, None, [])
                break


def test_one_status_message_per_real_change(api: ApiServer, run: AgentRun) -> None:
    with api.client() as client:
        for status in ("thinking", "coding", "coding", "coding", "testing", "completed"):
            patch(client, run, status)
        with open_stream(client, run.id) as response:
            messages = [b.json() for b in blocks(response) if b.is_message]
    assert [(m["type"], m["content"]) for m in messages] == [
        ("status", "Started thinking phase"),
        ("status", "Started coding phase"),
        ("status", "Started testing phase"),
        ("status", "Nori completed step 1"),
    ]


def test_agent_replies_stream_with_role(api: ApiServer, run: AgentRun) -> None:
    token = mint_agent_token(derive_agent_secret(TOKEN), run.id)
    with (
        httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {token}"}) as agent,
        api.client() as client,
        open_stream(client, run.id) as response,
    ):
        stream = blocks(response)
        reply = agent.post(f"/api/agent-runs/{run.id}/messages", json={"content": "On it"})
        assert reply.status_code == 201
        [message] = take_messages(stream, 1)
        assert (message["sender"], message["role"], message["content"]) == (
            "agent",
            "coder",
            "On it",
        )


def test_stream_errors(api: ApiServer, run: AgentRun) -> None:
    with api.client() as client:
        with open_stream(client, "run_nope") as response:
            response.read()
            assert response.status_code == 404
            assert response.json() == {"detail": "Agent run run_nope was not found."}
        with open_stream(client, run.id, last_event_id="yesterday") as response:
            response.read()
            assert response.status_code == 422
            assert response.json() == {
                "detail": "The Last-Event-ID header 'yesterday' is not a message cursor: send "
                "the id of the last event received (12 digits)."
            }
    with httpx.Client(base_url=api.url) as anonymous:
        response = anonymous.get(f"/api/agent-runs/{run.id}/messages/stream")
        assert response.status_code == 401
        assert response.json() == {
            "detail": "Missing bearer token: send the header 'Authorization: Bearer <token>'."
        }
    other_agent = mint_agent_token(derive_agent_secret(TOKEN), "run_other")
    with httpx.Client(
        base_url=api.url, headers={"Authorization": f"Bearer {other_agent}"}
    ) as agent:
        response = agent.get(f"/api/agent-runs/{run.id}/messages/stream")
        assert response.status_code == 403
        assert response.json() == {
            "detail": f"This agent token belongs to run run_other; it cannot act on run {run.id}."
        }


def test_stream_cap_is_503_with_retry_after(
    engine: Any, stream_db: Db, run: AgentRun, tmp_path: Any
) -> None:
    server = start_api(engine, stream_db, tmp_path, "capped", OMAKASE_MAX_STREAMS="1")
    try:
        with server.client() as client, open_stream(client, run.id) as first:
            assert first.status_code == 200
            stream = blocks(first)  # (kept: dropping a half-read iterator closes the stream)
            assert next(stream).retry == RECONNECT_HINT_MS  # the first stream is served
            second = client.get(f"/api/agent-runs/{run.id}/messages/stream")
            assert second.status_code == 503
            assert second.headers["retry-after"] == "5"
            assert second.json() == {
                "detail": "This server already serves 1 streams; retry in 5 seconds."
            }
    finally:
        server.stop()
