"""An agent asks the person and waits, through the claude runner: the real CLI, our MCP server.

The scripted model calls ``mcp__omakase__ask_human`` during the coder's step (the
runner gave the CLI exactly our server with ``--mcp-config --strict-mcp-config``);
the question shows in the thread, the run waits, the answer POSTed over HTTP is
the tool's result in the model's next request, and the pipeline carries on.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.agents.claude.conftest import CLAUDE_TEST_TIMEOUT_S, first, role_turn, wait_long
from tests.api.agents.conftest import Agents
from tests.support.fake_model import FakeModel
from tests.support.fake_model_script import Rule, Rules, mcp_tool

pytestmark = [pytest.mark.engine, pytest.mark.slow, pytest.mark.timeout(CLAUDE_TEST_TIMEOUT_S)]


def run_of(agents: Agents, run_id: str) -> dict[str, Any]:
    with agents.http as client:
        return dict(client.get(f"/api/agent-runs/{run_id}").json())


def test_the_agent_asks_waits_and_gets_the_answer_as_its_tool_result(
    claude_agents: Agents, model: FakeModel
) -> None:
    marker = "ask-the-person"
    question = {"question": "SQLite or Postgres?", "options": ["SQLite", "Postgres"]}
    model.responder = Rules(
        Rule(first(role_turn("coder", marker)), [mcp_tool("omakase", "ask_human", question)])
    )
    feature = claude_agents.new_feature("Store the orders.", name=f"Orders {marker}")
    coder = claude_agents.wait_active(feature, "coder")

    def asked() -> dict[str, Any] | None:
        return next(
            (m for m in claude_agents.messages(coder["id"]) if m["type"] == "question"), None
        )

    shown = wait_long(asked, "the question in the thread")
    assert (shown["sender"], shown["content"], shown["options"]) == (
        "agent",
        "SQLite or Postgres?",
        ["SQLite", "Postgres"],
    )
    assert run_of(claude_agents, coder["id"])["status"] == "waiting"

    with claude_agents.http as client:
        answer = client.post(
            f"/api/agent-runs/{coder['id']}/messages", json={"content": "Postgres"}
        )
    assert answer.status_code == 201, answer.text
    assert answer.json()["replyTo"] == shown["id"]

    # The next request of the coder's turn carries the answer as the tool's result.
    reached = model.wait_for_request(
        lambda r: (
            r.is_agent_call and role_turn("coder", marker)(r) and "Postgres" in r.last_tool_result
        ),
        timeout=120,
    )
    assert reached.last_tool_result.strip() == "Postgres"
    wait_long(lambda: run_of(claude_agents, coder["id"])["status"] != "waiting", "the wait")

    finished = claude_agents.wait_finished(feature)
    assert finished["status"] == "passing", finished
    [stored] = [m for m in claude_agents.messages(coder["id"]) if m["id"] == answer.json()["id"]]
    assert (stored["receipt"]["state"], stored["receipt"]["channel"]) == ("delivered", "mcp")
    # The answer went to the tool, never also to the agent's input as a steer.
    notices = [
        m["receipt"]["state"]
        for m in claude_agents.messages(coder["id"])
        if m.get("receiptFor") == stored["id"]
    ]
    assert "sent" not in notices
