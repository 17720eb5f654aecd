"""The real, pinned Claude Code CLI (2.1.197) against the scripted model server.

These tests pin down the stream-json facts the live runner relies on
(docs/CLAUDE_STREAM.md). They run the CLI offline: ``ANTHROPIC_BASE_URL`` points
at ``FakeModel`` on 127.0.0.1, HOME and ``CLAUDE_CONFIG_DIR`` are temporary.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from infra.claude_cli import PINNED_CLAUDE_VERSION, default_claude_bin
from tests.support.claude_session import (
    ClaudeSession,
    Event,
    claude_env,
    interrupt_line,
    user_line,
)
from tests.support.fake_model import FakeModel
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

#: Upper bound for one scripted turn (the CLI starts in ~1-3 s here).
TURN_TIMEOUT_S = 60.0
#: How often ``_wait`` looks again.
POLL_S = 0.1
#: How long to wait for a killed tool's shell to disappear.
GONE_TIMEOUT_S = 10.0
ROOT = Path(__file__).resolve().parents[2]

Start = Callable[..., ClaudeSession]


@pytest.fixture
def start_claude(fake_model: FakeModel, tmp_path: Path) -> Iterator[Start]:
    """Start CLI sessions in ``tmp_path/work``; every one is killed at teardown."""
    work = tmp_path / "work"
    work.mkdir()
    env = claude_env(fake_model, tmp_path / "home")
    with ExitStack() as stack:

        def start(extra_args: list[str] | None = None) -> ClaudeSession:
            return stack.enter_context(ClaudeSession(env=env, cwd=work, extra_args=extra_args))

        yield start


def of_type(session: ClaudeSession, kind: str, subtype: str | None = None) -> list[Event]:
    return [
        e for e in session.events if e.type == kind and (subtype is None or e.subtype == subtype)
    ]


def index_of(session: ClaudeSession, predicate: Callable[[Event], bool]) -> int:
    return next(i for i, e in enumerate(session.events) if predicate(e))


def test_text_turn_ends_with_success_and_closing_stdin_exits_zero(start_claude: Start) -> None:
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

    init = of_type(session, "system", "init")[0].data
    assert init["claude_code_version"] == PINNED_CLAUDE_VERSION
    assert init["session_id"] == result.data["session_id"]
    assert "Bash" in init["tools"]
    assert init["mcp_servers"] == []
    echo = [e.data for e in of_type(session, "user") if e.data.get("isReplay")]
    assert [e["uuid"] for e in echo] == [line["uuid"]]
    assistant = of_type(session, "assistant")
    assert [e.data["message"]["content"] for e in assistant] == [
        [{"type": "text", "text": "Done. You said: Say hello"}]
    ]
    assert session.close() == 0


def test_one_assistant_event_per_content_block(fake_model: FakeModel, start_claude: Start) -> None:
    """A reply of text + tool_use comes out as two ``assistant`` events sharing ``message.id``."""
    fake_model.responder = Rules(Rule(first_of_turn, [text("Let me check."), bash("echo hi")]))
    session = start_claude()
    session.send(user_line("Check something"))
    assert session.wait_result(TURN_TIMEOUT_S).subtype == "success"

    first_two = [e.data["message"] for e in of_type(session, "assistant")[:2]]
    assert [m["content"][0]["type"] for m in first_two] == ["text", "tool_use"]
    assert all(len(m["content"]) == 1 for m in first_two)
    assert first_two[0]["id"] == first_two[1]["id"]
    tool_results = [
        e.data["tool_use_result"] for e in of_type(session, "user") if "tool_use_result" in e.data
    ]
    assert tool_results[0]["stdout"] == "hi"
    assert tool_results[0]["interrupted"] is False


def test_message_sent_while_a_tool_runs_reaches_the_very_next_model_request(
    fake_model: FakeModel, start_claude: Start
) -> None:
    """Steering: a ``priority: "next"`` line written during ``sleep 5`` joins the next request.

    Seen: the echo ``{"type":"user","message":{"role":"user","content":"<words>"},
    "uuid":"<ours>","isReplay":true,"timestamp":"<when we wrote it>",…}`` is printed
    only after the tool finished — right after the tool-result ``user`` event and
    before the next model request. That request carries the words as a trailing
    ``{"role":"system","content":"The user sent a new message while you were
    working:\\n<words>\\n\\nIMPORTANT: After completing your current task, you MUST
    address the user's message above. Do not ignore it."}``. The turn goes on: one
    ``result`` for the whole turn.
    """
    words = "STEER: please also update the README"
    session = start_claude()
    session.send(user_line("Build it [[bash: sleep 5]]"))
    session.wait_event(lambda e: e.type == "assistant", TURN_TIMEOUT_S)
    steer = user_line(words, priority="next")
    session.send(steer)
    result = session.wait_result(TURN_TIMEOUT_S)

    assert result.subtype == "success"
    assert words in result.data["result"]
    assert len(of_type(session, "result")) == 1
    echo = index_of(session, lambda e: e.data.get("uuid") == steer["uuid"])
    assert session.events[echo].data["isReplay"] is True
    tool_result = index_of(session, lambda e: "tool_use_result" in e.data)
    assert tool_result < echo
    carrying = fake_model.requests_containing(words)[0]
    assert carrying.injected == [words]
    assert carrying.last_tool_result == "(Bash completed with no output)"
    agent = fake_model.agent_requests
    assert agent.index(carrying) == 1, "the request right after the tool call carries it"


def pid_gone(pid: int) -> bool:
    """True once ``pid`` no longer runs (gone, or a zombie awaiting its parent)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def test_interrupt_cuts_the_tool_and_the_next_message_starts_a_new_turn(
    fake_model: FakeModel, start_claude: Start, tmp_path: Path
) -> None:
    """Interrupt during ``sleep 30``: the shell is killed, the turn ends, a new one starts.

    Seen, in this order: ``{"type":"control_response","response":{"subtype":"success",
    "request_id":"r1"}}``; a ``user`` tool result ``{"type":"tool_result","is_error":true,
    "content":"The user doesn't want to proceed with this tool use. …"}``; a ``user``
    text ``[Request interrupted by user for tool use]``; ``{"type":"result",
    "subtype":"error_during_execution","is_error":true,"stop_reason":"tool_use",…}``
    (no ``result`` text field). The next user line starts a normal turn; the model
    gets it in the same user message as the cut tool's result.
    """
    session = start_claude()
    session.send(user_line("Wait [[bash: echo $$ > shell.pid; sleep 30]]"))
    pid_file = tmp_path / "work" / "shell.pid"
    started = _wait(
        lambda: pid_file.exists() and pid_file.read_text().strip() != "", TURN_TIMEOUT_S
    )
    assert started, "the Bash tool never ran"
    pid = int(pid_file.read_text())
    session.send(interrupt_line("r1"))
    interrupted = session.wait_result(TURN_TIMEOUT_S)

    response = session.wait_event(lambda e: e.type == "control_response", TURN_TIMEOUT_S)
    assert response.data["response"] == {"subtype": "success", "request_id": "r1"}
    assert interrupted.subtype == "error_during_execution"
    assert interrupted.data["is_error"] is True
    cut = next(e for e in of_type(session, "user") if "tool_use_result" in e.data)
    assert cut.data["message"]["content"][0]["is_error"] is True

    after = len(session.events)
    session.send(user_line("After the interrupt", priority="next"))
    second = session.wait_result(TURN_TIMEOUT_S, after=after)
    assert second.subtype == "success"
    assert second.data["result"] == "Done. You said: After the interrupt"
    assert fake_model.agent_requests[-1].is_first_of_turn
    assert _wait(lambda: pid_gone(pid), GONE_TIMEOUT_S), "the interrupted shell still runs"
    assert session.close() == 0


def _wait(check: Callable[[], bool], timeout: float) -> bool:
    """Poll ``check`` until it holds or ``timeout`` passes (a wait, not a speed claim)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(POLL_S)
    return check()


def test_a_line_after_the_last_result_starts_a_new_turn(
    fake_model: FakeModel, start_claude: Start
) -> None:
    """After ``result`` the CLI idles on stdin; a new user line starts a new turn.

    The conversation continues (the model sees both prompts), ``system/init`` is
    printed again before each turn, and each turn has its own ``result``.
    """
    session = start_claude()
    session.send(user_line("First question"))
    session.wait_result(TURN_TIMEOUT_S)
    after = len(session.events)
    session.send(user_line("Second question"))
    second = session.wait_result(TURN_TIMEOUT_S, after=after)

    assert second.data["result"] == "Done. You said: Second question"
    assert len(of_type(session, "system", "init")) == 2
    last = fake_model.agent_requests[-1]
    assert last.contains("First question")
    assert last.contains("Second question")
    assert session.close() == 0


def test_mcp_ask_human_result_reaches_the_model(fake_model: FakeModel, start_claude: Start) -> None:
    """``mcp__omakase__ask_human`` runs through a stdio MCP server; its answer comes back.

    The CLI reports ``"mcp_servers":[{"name":"omakase","status":"connected"}]`` in
    ``system/init``; the SDK's string return reaches the model as ``{"result": "…"}``.
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

    init = of_type(session, "system", "init")[0].data
    assert init["mcp_servers"] == [{"name": "omakase", "status": "connected"}]
    assert result.subtype == "success"
    assert result.data["result"] == ('They said: {"result":"Blue, please (to: Which colour?)"}')


def test_the_scripted_reviewer_answers_its_verdict(start_claude: Start) -> None:
    """A prompt naming APPROVE and REQUEST_CHANGES gets the verdict first, on its own line."""
    session = start_claude()
    session.send(
        user_line("Review: answer APPROVE or REQUEST_CHANGES. [[verdict: REQUEST_CHANGES]]")
    )
    result = session.wait_result(TURN_TIMEOUT_S)

    assert result.data["result"].splitlines()[0] == "REQUEST_CHANGES"
