"""``POST …/questions/{id}/wait``: the held wait the ``omakase`` MCP server uses for an answer.

A real API process on the local engine (the ``stack`` of the MCP tests). What is
proven: the answer's POST wakes a held wait (long before its hold runs out);
the wait answers only once both receipts are written (the answer is consumed
before the agent sees it); a retried wait — its response lost, e.g. to a
restart — gets the same answer again and writes nothing twice; the chat's close
("Answered", the run's phase) is the ``answered`` call that follows; an answer
POSTed through another API process reaches the wait through its store read.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.auth import derive_agent_secret, mint_agent_token
from infra.local_engine import LocalEngine
from tests.api.agents.mcp_stack import Stack, stack_fixture  # noqa: F401 - the `stack` fixture
from tests.conftest import TOKEN, api_on

pytestmark = pytest.mark.engine

#: Longer than any push takes: a wait that returns before it was woken, not timed out.
HOLD_S = 20.0
#: Enough for the wait's first reads on a loaded machine (it is held long after).
HELD_GRACE_S = 0.5


def agent(stack: Stack, run_id: str, url: str | None = None) -> httpx.Client:
    token = mint_agent_token(derive_agent_secret(TOKEN), run_id)
    return httpx.Client(
        base_url=url or stack.server.url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=HOLD_S + 10,
    )


def held_wait(client: httpx.Client, path: str, seconds: float) -> dict[str, Any]:
    """Start a held wait in a thread; its outcome (and how long it was held) land in the dict."""
    out: dict[str, Any] = {}

    def wait() -> None:
        started = time.monotonic()
        response = client.post(path, json={"seconds": seconds})
        out["held_s"] = time.monotonic() - started
        out["status"], out["body"] = response.status_code, response.json()

    out["thread"] = threading.Thread(target=wait)
    out["thread"].start()
    return out


def wait_until_held(stack: Stack, out: dict[str, Any]) -> None:
    """Give the request time to be held (its first reads done), and check it still is."""
    time.sleep(HELD_GRACE_S)
    assert "status" not in out, out


def test_the_answer_post_wakes_the_held_wait_and_a_retried_wait_gets_it_again(
    stack: Stack,
) -> None:
    run_id = stack.new_run()
    with agent(stack, run_id) as client:
        asked = client.post(f"/api/agent-runs/{run_id}/questions", json={"question": "Tabs?"})
        assert asked.status_code == 201, asked.text
        question = asked.json()
        path = f"/api/agent-runs/{run_id}/questions/{question['id']}/wait"

        empty = client.post(path, json={"seconds": 0.2})
        assert (empty.status_code, empty.json()) == (200, {"answer": None, "ended": None})

        out = held_wait(client, path, HOLD_S)
        wait_until_held(stack, out)
        answer = stack.post(f"/api/agent-runs/{run_id}/messages", {"content": "Spaces"})
        out["thread"].join(HOLD_S + 5)
        assert out["status"] == 200
        assert out["body"]["answer"]["id"] == answer["id"]
        assert out["held_s"] < HOLD_S / 2  # woken by the POST, not the hold running out

        # Both receipts are written before the wait answers; the chat's close is not yet.
        by_id = {m["id"]: m for m in stack.thread(run_id)}
        assert by_id[question["id"]]["receipt"]["state"] == "delivered"
        assert by_id[answer["id"]]["receipt"]["channel"] == "mcp"
        assert stack.get(f"/api/agent-runs/{run_id}")["status"] == "waiting"

        # The response lost (a restart): the retried wait gets the same answer again.
        again = client.post(path, json={"seconds": 1})
        assert again.json()["answer"]["id"] == answer["id"]

        closed = client.post(
            f"/api/agent-runs/{run_id}/questions/{question['id']}/answered",
            json={"messageId": answer["id"]},
        )
        assert closed.status_code == 200, closed.text
    run = stack.get(f"/api/agent-runs/{run_id}")
    assert (run["status"], run.get("openQuestionId")) == ("coding", None)
    notices = [m["content"] for m in stack.thread(run_id) if m["type"] == "status"]
    assert sum(n.startswith("💬 Answered") for n in notices) == 1
    assert sum(n.startswith("📬 Delivered") for n in notices) == 1


def test_an_answer_posted_through_another_api_process_reaches_the_held_wait(
    engine: LocalEngine, stack: Stack, tmp_path: Path
) -> None:
    other = api_on(
        stack.db,
        endpoint=engine.endpoint,
        log_path=tmp_path / "other.log",
        env={"OMAKASE_AUTO_START_FEATURES": "false", "OMAKASE_WORKSPACE_ROOT": str(tmp_path)},
    ).start()
    try:
        run_id = stack.new_run()
        with agent(stack, run_id) as client:
            question = client.post(
                f"/api/agent-runs/{run_id}/questions", json={"question": "Merge?"}
            ).json()
            out = held_wait(
                client, f"/api/agent-runs/{run_id}/questions/{question['id']}/wait", HOLD_S
            )
            wait_until_held(stack, out)
            with other.client() as person:
                answer = person.post(
                    f"/api/agent-runs/{run_id}/messages", json={"content": "Yes"}
                ).json()
            out["thread"].join(HOLD_S + 5)
        assert out["body"]["answer"]["id"] == answer["id"]
        assert out["held_s"] < HOLD_S / 2  # the store read found it, not the hold's end
    finally:
        other.stop()


def test_only_the_runs_own_agent_waits_and_an_unknown_question_is_404(stack: Stack) -> None:
    run_id, other_run = stack.new_run(), stack.new_run()
    path = f"/api/agent-runs/{run_id}/questions/q-nope/wait"
    with agent(stack, run_id) as client:
        missing = client.post(path, json={"seconds": 1})
        assert missing.status_code == 404
        assert "q-nope was not found" in missing.json()["detail"]
        too_long = client.post(path, json={"seconds": 3600})
        assert too_long.status_code == 422
    with agent(stack, other_run) as stranger:
        assert stranger.post(path, json={"seconds": 1}).status_code == 403
    with stack.http() as operator:
        assert operator.post(path, json={"seconds": 1}).status_code == 403
