"""The real, pinned Claude Code CLI (2.1.197) against the scripted model server.

These tests pin down the stream-json facts the live runner relies on
(docs/CLAUDE_STREAM.md). They run the CLI offline: ``ANTHROPIC_BASE_URL`` points
at ``FakeModel`` on 127.0.0.1, HOME and ``CLAUDE_CONFIG_DIR`` are temporary.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.claude_cli import PINNED_CLAUDE_VERSION, default_claude_bin
from tests.support.claude_session import interrupt_line, user_line
from tests.support.fake_model import FakeModel
from tests.support.fake_model_fixtures import StartClaude
from tests.support.fake_model_script import (
    Rule,
    Rules,
    after_tool,
    bash,
    first_of_turn,
    reply_with_tool_result,
    text,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(default_claude_bin()).is_file(),
        reason="the pinned CLI is not installed (make setup runs npm ci in infra/claude_code)",
    ),
]

#: Upper bound for one scripted turn (the CLI starts in 1-7 s here, depending on load).
TURN_TIMEOUT_S = 60.0
ROOT = Path(__file__).resolve().parents[2]


def test_text_turn_ends_with_success_and_closing_stdin_exits_zero(
    start_claude: StartClaude,
) -> None:
    """A text-only turn: ``system/init``, the echo, one ``assistant``, ``result/success``.

    Seen: ``{"type":"user","message":{"role":"user","content":"Say hello"},"session_id":…,
    "parent_tool_use_id":null,"uuid":"<ours>","timestamp":…,"isReplay":true}``, then
    ``{"type":"result","subtype":"success","is_error":false,"num_turns":1,"result":"<text>",
    "stop_reason":"end_turn","total_cost_usd":…,"usage":{"input_tokens":…,"output_tokens":…},
    "modelUsage":{"<model>":{"costUSD":…}},"duration_ms":…,"session_id":…}``.
    """
    session = start_claude()
    line = user_line("Say hello")
    session.send(line)
    result = session.wait_result(TURN_TIMEOUT_S)

    assert result.subtype == "success"
    assert result.data["is_error"] is False
    assert result.data["result"] == "Done. You said: Say hello"
    assert result.data["num_turns"] == 1
    assert result.data["total_cost_usd"] > 0
    assert result.data["usage"]["input_tokens"] > 0
    assert result.data["usage"]["output_tokens"] > 0
    model_usage = next(iter(result.data["modelUsage"].values()))
    assert model_usage["costUSD"] == result.data["total_cost_usd"]

    init = session.of_type("system", "init")[0].data
    assert init["claude_code_version"] == PINNED_CLAUDE_VERSION
    assert init["session_id"] == result.data["session_id"]
    assert "Bash" in init["tools"]
    assert init["mcp_servers"] == []
    echo = [e.data for e in session.of_type("user") if e.data.get("isReplay")]
    assert [e["uuid"] for e in echo] == [line["uuid"]]
    assistant = session.of_type("assistant")
    assert [e.data["message"]["content"] for e in assistant] == [
        [{"type": "text", "text": "Done. You said: Say hello"}]
    ]
    assert session.close() == 0


def test_one_assistant_event_per_content_block(
    fake_model: FakeModel, start_claude: StartClaude
) -> None:
    """A reply of text + tool_use comes out as two ``assistant`` events sharing ``message.id``."""
    fake_model.responder = Rules(Rule(first_of_turn, [text("Let me check."), bash("echo hi")]))
    session = start_claude()
    session.send(user_line("Check something"))
    assert session.wait_result(TURN_TIMEOUT_S).subtype == "success"

    first_two = [e.data["message"] for e in session.of_type("assistant")[:2]]
    assert [m["content"][0]["type"] for m in first_two] == ["text", "tool_use"]
    assert all(len(m["content"]) == 1 for m in first_two)
    assert first_two[0]["id"] == first_two[1]["id"]
    tool_results = [
        e.data["tool_use_result"] for e in session.of_type("user") if "tool_use_result" in e.data
    ]
    assert tool_results[0]["stdout"] == "hi"
    assert tool_results[0]["interrupted"] is False


def test_a_line_after_the_last_result_starts_a_new_turn(
    fake_model: FakeModel, start_claude: StartClaude
) -> None:
    """After ``result`` the CLI idles on stdin; a new user line starts a new turn.

    The conversation continues (the model sees both prompts), ``system/init`` is
    printed again before each turn, and each turn has its own ``result``. An
    interrupt sent while idle is answered ``success`` and changes nothing.
    """
    session = start_claude()
    session.send(user_line("First question"))
    session.wait_result(TURN_TIMEOUT_S)
    session.send(interrupt_line("idle"))
    idle = session.wait_event(lambda e: e.type == "control_response", TURN_TIMEOUT_S)
    after = len(session.events)
    session.send(user_line("Second question"))
    second = session.wait_result(TURN_TIMEOUT_S, after=after)

    assert idle.data["response"] == {"subtype": "success", "request_id": "idle"}
    assert [e.subtype for e in session.of_type("result")] == ["success", "success"]
    assert second.data["result"] == "Done. You said: Second question"
    assert len(session.of_type("system", "init")) == 2
    last = fake_model.agent_requests[-1]
    assert last.contains("First question")
    assert last.contains("Second question")
    assert session.close() == 0


def test_mcp_ask_human_result_reaches_the_model(
    fake_model: FakeModel, start_claude: StartClaude
) -> None:
    """``mcp__omakase__ask_human`` runs through a stdio MCP server; its answer comes back.

    With ``MCP_CONNECTION_NONBLOCKING=0`` (``claude_env``) ``system/init`` reports
    ``"mcp_servers":[{"name":"omakase","status":"connected"}]``. The tool is declared
    with ``structured_output=False``, so the model gets the plain text
    (``[{"type":"text","text":"…"}]``), not ``{"result":"…"}``.
    """
    config = {
        "mcpServers": {
            "omakase": {
                "type": "stdio",
                "command": str(ROOT / ".venv" / "bin" / "python"),
                "args": ["-m", "tests.support.omakase_mcp_stand_in"],
                "env": {"PYTHONPATH": str(ROOT), "OMAKASE_TEST_ANSWER": "Blue, please"},
            }
        }
    }
    fake_model.responder = Rules(
        Rule(after_tool("mcp__omakase__ask_human"), reply_with_tool_result("They said: "))
    )
    session = start_claude(
        [
            "--mcp-config",
            json.dumps(config),
            "--strict-mcp-config",
            "--allowedTools",
            "mcp__omakase__ask_human",
        ]
    )
    session.send(user_line("Pick a colour [[ask: Which colour?]]"))
    result = session.wait_result(TURN_TIMEOUT_S)

    init = session.of_type("system", "init")[0].data
    assert init["mcp_servers"] == [{"name": "omakase", "status": "connected"}]
    assert result.subtype == "success"
    assert result.data["result"] == "They said: Blue, please (to: Which colour?)"


def test_the_scripted_reviewer_answers_its_verdict(start_claude: StartClaude) -> None:
    """A prompt naming APPROVE and REQUEST_CHANGES gets the verdict first, on its own line."""
    session = start_claude()
    session.send(
        user_line("Review: answer APPROVE or REQUEST_CHANGES. [[verdict: REQUEST_CHANGES]]")
    )
    result = session.wait_result(TURN_TIMEOUT_S)

    assert result.data["result"].splitlines()[0] == "REQUEST_CHANGES"


def test_a_line_that_is_not_json_ends_the_cli(start_claude: StartClaude) -> None:
    """One malformed stdin line kills the whole session: exit 1, the reason on stderr.

    So the runner writes only ``json.dumps`` output (which escapes newlines in the text).
    """
    session = start_claude()
    assert session.process is not None
    assert session.process.stdin is not None
    session.process.stdin.write(b"this is not json\n")
    session.process.stdin.flush()

    assert session.close() == 1
    assert "Error parsing streaming input line" in session.stderr_tail()
    assert session.of_type("result") == []


def test_a_line_without_uuid_is_taken_but_echoed_with_a_uuid_of_the_cli(
    start_claude: StartClaude,
) -> None:
    """Only ``type`` and ``message`` are required; without ``uuid`` the echo has the CLI's own.

    So a runner that wants the echo as its delivery receipt must send its own uuid.
    """
    session = start_claude()
    session.send({"type": "user", "message": {"role": "user", "content": "Two\nlines"}})
    result = session.wait_result(TURN_TIMEOUT_S)

    assert result.data["result"] == "Done. You said: Two\nlines"
    echo = next(e.data for e in session.of_type("user") if e.data.get("isReplay"))
    assert echo["message"]["content"] == "Two\nlines"
    assert echo["uuid"]
