"""The ``omakase`` MCP server alone, as any MCP client uses it: the SDK's stdio client.

A real API process (``python -m api``) on the local engine, with no pipeline
running (features do not auto-start): each test creates a run in the store,
starts the server as a subprocess with that run's agent token, and drives the
tools while the "person" answers over HTTP. Waiting is polling for a state, never
a sleep-as-assertion.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from api.agents.mcp_config import ALLOWED_MCP_TOOLS
from core.models import AgentRunRole
from infra.local_engine import LocalEngine
from tests.api.agents.mcp_stack import (  # noqa: F401 - stack_fixture is the `stack` fixture
    Stack,
    connect,
    open_question,
    stack_fixture,
    text_of,
    wait_until,
)
from tests.conftest import api_on

pytestmark = pytest.mark.engine


def test_lists_the_three_tools_with_the_names_the_cli_allows(stack: Stack) -> None:
    async def scenario() -> list[str]:
        async with connect(stack, stack.env(stack.new_run())) as session:
            listed = await session.list_tools()
            return sorted(tool.name for tool in listed.tools)

    names = anyio.run(scenario)
    assert names == ["ask_human", "check_messages", "send_message"]
    assert sorted(ALLOWED_MCP_TOOLS) == [f"mcp__omakase__{n}" for n in names]


def test_ask_human_returns_the_answer_posted_over_http(stack: Stack) -> None:
    run_id = stack.new_run(AgentRunRole.ARCHITECT)
    answers: dict[str, Any] = {}

    async def person() -> None:
        question = await wait_until(open_question(stack, run_id), "the question")
        answers["question"] = question
        answers["answer"] = await anyio.to_thread.run_sync(
            lambda: stack.post(f"/api/agent-runs/{run_id}/messages", {"content": "Postgres"})
        )

    async def scenario() -> str:
        async with connect(stack, stack.env(run_id)) as session, anyio.create_task_group() as tg:
            tg.start_soon(person)
            result = await session.call_tool(
                "ask_human", {"question": "SQLite or Postgres?", "options": ["SQLite", "Postgres"]}
            )
            assert not result.is_error
        return text_of(result)

    assert anyio.run(scenario) == "Postgres"
    question, answer = answers["question"], answers["answer"]
    assert (question["sender"], question["options"]) == ("agent", ["SQLite", "Postgres"])
    assert answer["replyTo"] == question["id"]
    run = stack.get(f"/api/agent-runs/{run_id}")
    assert (run["status"], run.get("openQuestionId")) == ("thinking", None)
    by_id = {m["id"]: m for m in stack.thread(run_id)}
    assert by_id[question["id"]]["receipt"]["state"] == "delivered"
    assert by_id[answer["id"]]["receipt"]["channel"] == "mcp"


def test_nobody_answers_the_tool_says_so_and_the_question_expires(stack: Stack) -> None:
    run_id = stack.new_run(AgentRunRole.TESTER)

    async def scenario() -> str:
        async with connect(stack, stack.env(run_id, ask_timeout_s=1.0)) as session:
            result = await session.call_tool("ask_human", {"question": "Anyone?"})
            assert not result.is_error
            return text_of(result)

    assert anyio.run(scenario) == (
        "Nobody answered within 1 s; decide on your own and say what you chose."
    )
    run = stack.get(f"/api/agent-runs/{run_id}")
    assert (run["status"], run.get("openQuestionId")) == ("testing", None)
    [question] = [m for m in stack.thread(run_id) if m["type"] == "question"]
    assert question["receipt"]["state"] == "not_delivered"
    assert question["receipt"]["reason"] == "nobody answered in time"


def test_send_and_check_messages(stack: Stack) -> None:
    run_id = stack.new_run()
    first = stack.post(f"/api/agent-runs/{run_id}/messages", {"content": "use tabs"})

    async def scenario() -> tuple[str, str, str]:
        async with connect(stack, stack.env(run_id)) as session:
            sent = await session.call_tool("send_message", {"text": "Starting on the schema"})
            checked = await session.call_tool("check_messages", {})
            again = await session.call_tool("check_messages", {})
            return text_of(sent), text_of(checked), text_of(again)

    sent, checked, again = anyio.run(scenario)
    assert sent == "Sent to the person's chat."
    assert checked.startswith("1 new message(s) from the person")
    assert checked.endswith("use tabs")
    assert again == "No new messages from the person."
    by_id = {m["id"]: m for m in stack.thread(run_id)}
    assert by_id[first["id"]]["receipt"]["channel"] == "mcp"
    agent_words = [m["content"] for m in by_id.values() if m["sender"] == "agent"]
    assert "Starting on the schema" in agent_words


@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        ("ask_human", {"question": "  "}, "The question must not be empty"),
        ("ask_human", {"question": "x" * 32_001}, "the limit is 32,000"),
        ("ask_human", {"question": "Q?", "options": list("abcdefg")}, "offer at most 6"),
        ("ask_human", {"question": "Q?", "options": ["y" * 81]}, "1 to 80 printable"),
        ("send_message", {"text": ""}, "must not be empty"),
    ],
)
def test_bad_input_is_a_tool_error_and_nothing_is_stored(
    stack: Stack, tool: str, arguments: dict[str, Any], expected: str
) -> None:
    run_id = stack.new_run()

    async def scenario() -> tuple[bool, str]:
        async with connect(stack, stack.env(run_id)) as session:
            result = await session.call_tool(tool, arguments)
            return bool(result.is_error), text_of(result)

    is_error, text = anyio.run(scenario)
    assert is_error
    assert expected in text
    assert stack.thread(run_id) == []
    assert stack.get(f"/api/agent-runs/{run_id}")["status"] == "started"


def test_cancel_while_waiting_ends_the_wait(stack: Stack) -> None:
    run_id = stack.new_run()

    async def person() -> None:
        await wait_until(open_question(stack, run_id), "the question")
        await anyio.to_thread.run_sync(lambda: stack.post(f"/api/agent-runs/{run_id}/cancel", {}))

    async def scenario() -> str:
        async with connect(stack, stack.env(run_id)) as session, anyio.create_task_group() as tg:
            tg.start_soon(person)
            result = await session.call_tool("ask_human", {"question": "Keep going?"})
        return text_of(result)

    assert anyio.run(scenario) == (
        "The run ended while you waited (Cancelled by user); stop working on this step."
    )
    run = stack.get(f"/api/agent-runs/{run_id}")
    assert (run["status"], run.get("openQuestionId")) == ("failed", None)
    [question] = [m for m in stack.thread(run_id) if m["type"] == "question"]
    assert question["receipt"]["reason"] == "the run ended"


def test_the_answer_arrives_although_the_api_restarted_while_the_agent_waited(
    engine: LocalEngine, stack: Stack, tmp_path: Path
) -> None:
    """Its own API process on a fixed port: stopped while the agent waits, started again."""
    own = api_on(
        stack.db,
        endpoint=engine.endpoint,
        log_path=tmp_path / "api.log",
        env={"OMAKASE_AUTO_START_FEATURES": "false", "OMAKASE_WORKSPACE_ROOT": str(tmp_path)},
    ).start()
    restarted = Stack(server=own, db=stack.db, log_dir=tmp_path)
    run_id = restarted.new_run()
    posted: dict[str, Any] = {}

    async def person() -> None:
        await wait_until(open_question(restarted, run_id), "the question")
        await anyio.to_thread.run_sync(own.stop)
        await anyio.sleep(2 * 0.5)  # the server polls into a dead port meanwhile
        await anyio.to_thread.run_sync(own.start)
        posted["answer"] = await anyio.to_thread.run_sync(
            lambda: restarted.post(f"/api/agent-runs/{run_id}/messages", {"content": "Yes"})
        )

    async def scenario() -> str:
        async with (
            connect(restarted, restarted.env(run_id)) as session,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(person)
            result = await session.call_tool("ask_human", {"question": "Ship it?"})
        return text_of(result)

    try:
        assert anyio.run(scenario) == "Yes"
        run = restarted.get(f"/api/agent-runs/{run_id}")
        assert (run["status"], run.get("openQuestionId")) == ("coding", None)
        answer = {m["id"]: m for m in restarted.thread(run_id)}[posted["answer"]["id"]]
        assert answer["receipt"]["channel"] == "mcp"
        # The wait did meet the dead API (and kept going).
        assert (
            "waiting for the answer: Cannot reach the API"
            in (tmp_path / "mcp-stderr.log").read_text()
        )
    finally:
        own.stop()
