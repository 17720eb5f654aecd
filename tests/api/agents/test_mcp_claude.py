"""The real, pinned Claude Code CLI calling the ``omakase`` tools, against the scripted model.

The CLI starts our server from ``mcp_config`` (``--mcp-config … --strict-mcp-config``),
the scripted model calls ``mcp__omakase__…``, the API stores what a person sees,
and the tool's result reaches the model: what the claude runner will rely on.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from api.agents.mcp_config import ALLOWED_MCP_TOOLS, mcp_config
from core.models import AgentRunRole
from infra.claude_cli import default_claude_bin
from tests.api.agents.mcp_stack import (  # noqa: F401 - stack_fixture is the `stack` fixture
    Stack,
    stack_fixture,
)
from tests.support.claude_session import user_line
from tests.support.fake_model import FakeModel
from tests.support.fake_model_fixtures import StartClaude
from tests.support.fake_model_script import (
    Rule,
    Rules,
    after_tool,
    first_of_turn,
    mcp_tool,
    reply_with_tool_result,
)

pytestmark = [
    pytest.mark.engine,
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(default_claude_bin()).is_file(),
        reason="the pinned CLI is not installed (make setup runs npm ci in infra/claude_code)",
    ),
]

TURN_TIMEOUT_S = 90.0
POLL_S = 0.1


def cli_args(stack: Stack, run_id: str, *, ask_timeout_s: float = 60.0) -> list[str]:
    config = mcp_config(python=sys.executable, env=stack.env(run_id, ask_timeout_s))
    return [
        "--mcp-config",
        json.dumps(config),
        "--strict-mcp-config",
        "--allowedTools",
        *ALLOWED_MCP_TOOLS,
    ]


def answer_when_asked(stack: Stack, run_id: str, words: str) -> threading.Thread:
    """The person: waits for the question and the ``waiting`` run, then answers over HTTP."""

    def person() -> None:
        stop = threading.Event()
        while not stop.wait(POLL_S):
            questions = [m for m in stack.thread(run_id) if m["type"] == "question"]
            if questions and stack.get(f"/api/agent-runs/{run_id}")["status"] == "waiting":
                stack.post(f"/api/agent-runs/{run_id}/messages", {"content": words})
                return

    thread = threading.Thread(target=person, daemon=True)
    thread.start()
    return thread


def test_the_cli_asks_the_person_and_the_answer_is_the_tool_result(
    stack: Stack, fake_model: FakeModel, start_claude: StartClaude
) -> None:
    run_id = stack.new_run(AgentRunRole.ARCHITECT)
    question = {"question": "SQLite or Postgres?", "options": ["SQLite", "Postgres"]}
    fake_model.responder = Rules(
        Rule(first_of_turn, [mcp_tool("omakase", "ask_human", question)]),
        Rule(after_tool("mcp__omakase__ask_human"), reply_with_tool_result("They said: ")),
    )
    person = answer_when_asked(stack, run_id, "Postgres, please")
    session = start_claude(cli_args(stack, run_id))
    session.send(user_line("Design the orders module"))
    result = session.wait_result(TURN_TIMEOUT_S)
    person.join(timeout=TURN_TIMEOUT_S)

    init = session.of_type("system", "init")[0].data
    assert init["mcp_servers"] == [{"name": "omakase", "status": "connected"}]
    assert result.subtype == "success"
    assert result.data["result"] == "They said: Postgres, please"
    thread = stack.thread(run_id)
    [asked] = [m for m in thread if m["type"] == "question"]
    assert (asked["content"], asked["options"]) == ("SQLite or Postgres?", ["SQLite", "Postgres"])
    assert asked["receipt"]["state"] == "delivered"
    run = stack.get(f"/api/agent-runs/{run_id}")
    assert (run["status"], run.get("openQuestionId")) == ("thinking", None)
    assert session.close() == 0


def test_the_cli_hears_nobody_answered_after_the_timeout(
    stack: Stack, fake_model: FakeModel, start_claude: StartClaude
) -> None:
    run_id = stack.new_run()
    fake_model.responder = Rules(
        Rule(first_of_turn, [mcp_tool("omakase", "ask_human", {"question": "Tabs?"})]),
        Rule(after_tool("mcp__omakase__ask_human"), reply_with_tool_result("Tool: ")),
    )
    session = start_claude(cli_args(stack, run_id, ask_timeout_s=1.0))
    session.send(user_line("Format the code"))
    result = session.wait_result(TURN_TIMEOUT_S)

    assert result.data["result"] == (
        "Tool: Nobody answered within 1 s; decide on your own and say what you chose."
    )
    [asked] = [m for m in stack.thread(run_id) if m["type"] == "question"]
    assert asked["receipt"]["state"] == "not_delivered"
    assert stack.get(f"/api/agent-runs/{run_id}")["status"] == "coding"


def test_the_cli_writes_in_the_chat_and_reads_the_persons_messages(
    stack: Stack, fake_model: FakeModel, start_claude: StartClaude
) -> None:
    run_id = stack.new_run()
    posted: dict[str, Any] = stack.post(
        f"/api/agent-runs/{run_id}/messages", {"content": "Please use snake_case"}
    )
    fake_model.responder = Rules(
        Rule(first_of_turn, [mcp_tool("omakase", "send_message", {"text": "Starting now"})]),
        Rule(after_tool("mcp__omakase__send_message"), [mcp_tool("omakase", "check_messages", {})]),
        Rule(after_tool("mcp__omakase__check_messages"), reply_with_tool_result("Inbox: ")),
    )
    session = start_claude(cli_args(stack, run_id))
    session.send(user_line("Write the handlers"))
    result = session.wait_result(TURN_TIMEOUT_S)

    assert result.data["result"].startswith("Inbox: 1 new message(s) from the person")
    assert "Please use snake_case" in result.data["result"]
    by_id = {m["id"]: m for m in stack.thread(run_id)}
    assert by_id[posted["id"]]["receipt"]["channel"] == "mcp"
    assert [
        m["content"] for m in by_id.values() if m["sender"] == "agent" and m["type"] == "message"
    ] == ["Starting now"]
