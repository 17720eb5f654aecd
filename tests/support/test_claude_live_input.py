"""Messages and interrupts written to a running CLI (2.1.197): when they land, what is lost.

The live runner's `steer` and `interrupt` delivery modes stand on these facts
(docs/CLAUDE_STREAM.md). Real pinned CLI, scripted model on 127.0.0.1.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from infra.claude_cli import default_claude_bin
from tests.support.claude_session import interrupt_line, user_line, wait_until
from tests.support.fake_model import FakeModel
from tests.support.fake_model_fixtures import StartClaude
from tests.support.fake_model_script import Block, ModelRequest, scripted_policy

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(default_claude_bin()).is_file(),
        reason="the pinned CLI is not installed (make setup runs npm ci in infra/claude_code)",
    ),
]

#: Upper bound for one scripted turn (the CLI starts in 1-7 s here, depending on load).
TURN_TIMEOUT_S = 60.0
#: How long to wait for a killed tool's shell to disappear.
GONE_TIMEOUT_S = 10.0
#: What the CLI tells the model about a tool cut by an interrupt.
REJECTED = "The user doesn't want to proceed with this tool use."


def is_tool_result(event_data: dict[str, object]) -> bool:
    return "tool_use_result" in event_data


def test_message_sent_while_a_tool_runs_reaches_the_very_next_model_request(
    fake_model: FakeModel, start_claude: StartClaude
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
    assert len(session.of_type("result")) == 1
    echo = session.index(lambda e: e.data.get("uuid") == steer["uuid"])
    assert session.events[echo].data["isReplay"] is True
    assert session.index(lambda e: is_tool_result(e.data)) < echo
    carrying = fake_model.requests_containing(words)[0]
    assert carrying.injected == [words]
    assert carrying.last_tool_result == "(Bash completed with no output)"
    assert fake_model.agent_requests.index(carrying) == 1, "the request right after the tool"


def test_two_messages_during_one_tool_arrive_together_in_order(
    fake_model: FakeModel, start_claude: StartClaude
) -> None:
    """Two lines queued during one tool: both echoed in order, both in the next request.

    The request has one ``system`` message with two "The user sent a new message
    while you were working:" sections, oldest first.
    """
    session = start_claude()
    session.send(user_line("Build it [[bash: sleep 3]]"))
    session.wait_event(lambda e: e.type == "assistant", TURN_TIMEOUT_S)
    lines = [user_line("steer one", priority="next"), user_line("steer two", priority="next")]
    for line in lines:
        session.send(line)
    session.wait_result(TURN_TIMEOUT_S)

    echoed = [e.data["uuid"] for e in session.of_type("user") if e.data.get("isReplay")]
    assert echoed[1:] == [line["uuid"] for line in lines]
    assert fake_model.requests_containing("steer one")[0].injected == ["steer one", "steer two"]


def pid_gone(pid: int) -> bool:
    """True once ``pid`` no longer runs (gone, or a zombie awaiting its parent)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def test_interrupt_cuts_the_tool_and_the_next_message_starts_a_new_turn(
    fake_model: FakeModel, start_claude: StartClaude, tmp_path: Path
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
    ran = wait_until(lambda: pid_file.exists() and pid_file.read_text().strip() != "", 60)
    assert ran, "the Bash tool never ran"
    pid = int(pid_file.read_text())
    session.send(interrupt_line("r1"))
    interrupted = session.wait_result(TURN_TIMEOUT_S)

    response = session.wait_event(lambda e: e.type == "control_response", TURN_TIMEOUT_S)
    assert response.data["response"] == {"subtype": "success", "request_id": "r1"}
    assert interrupted.subtype == "error_during_execution"
    assert interrupted.data["is_error"] is True
    cut = next(e for e in session.of_type("user") if is_tool_result(e.data))
    assert cut.data["message"]["content"][0]["is_error"] is True
    assert cut.data["message"]["content"][0]["content"].startswith(REJECTED)

    after = len(session.events)
    session.send(user_line("After the interrupt", priority="next"))
    second = session.wait_result(TURN_TIMEOUT_S, after=after)
    assert second.subtype == "success"
    assert second.data["result"] == "Done. You said: After the interrupt"
    assert fake_model.agent_requests[-1].is_first_of_turn
    assert wait_until(lambda: pid_gone(pid), GONE_TIMEOUT_S), "the interrupted shell still runs"
    assert session.close() == 0


def test_a_message_queued_before_an_interrupt_is_not_lost(
    fake_model: FakeModel, start_claude: StartClaude
) -> None:
    """A line written during a tool, then an interrupt before the tool boundary.

    The line is not dropped: it is echoed after the interrupted ``result`` and runs
    as the next turn by itself (no new user line needed), as the prompt of that turn.
    """
    session = start_claude()
    session.send(user_line("Wait [[bash: sleep 30]]"))
    session.wait_event(lambda e: e.type == "assistant", TURN_TIMEOUT_S)
    queued = user_line("Queued before the interrupt", priority="next")
    session.send(queued)
    session.send(interrupt_line("r2"))
    first = session.wait_result(TURN_TIMEOUT_S)
    after = session.events.index(first)
    second = session.wait_result(TURN_TIMEOUT_S, after=after + 1)

    assert first.subtype == "error_during_execution"
    echo = session.index(lambda e: e.data.get("uuid") == queued["uuid"])
    assert session.events.index(first) < echo < session.events.index(second)
    assert second.data["result"] == "Done. You said: Queued before the interrupt"
    assert fake_model.agent_requests[-1].prompt == "Queued before the interrupt"


def test_interrupt_while_the_model_is_thinking_keeps_the_prompt_in_the_conversation(
    fake_model: FakeModel, start_claude: StartClaude
) -> None:
    """Interrupt while the model request is in flight (no tool running).

    Seen: ``control_response`` success; only then the echo of the turn's prompt
    (a turn-starting line is echoed when the model's first reply arrives, or here at
    the interruption); a ``user`` text ``[Request interrupted by user]``; ``result``
    ``error_during_execution`` with ``stop_reason: null``. The CLI drops the HTTP
    stream. The next line's model request has the old prompt and the new words in
    one user message.
    """
    release = threading.Event()

    def slow_first(request: ModelRequest) -> list[Block]:
        if "THINK" in request.prompt and not request.contains("Go on"):
            release.wait(TURN_TIMEOUT_S)
        return scripted_policy(request)

    fake_model.responder = slow_first
    session = start_claude()
    prompt = user_line("THINK hard")
    session.send(prompt)
    fake_model.wait_for_text("THINK hard", TURN_TIMEOUT_S)
    session.send(interrupt_line("r3"))
    interrupted = session.wait_result(TURN_TIMEOUT_S)
    release.set()
    after = session.events.index(interrupted) + 1
    session.send(user_line("Go on"))
    second = session.wait_result(TURN_TIMEOUT_S, after=after)

    assert interrupted.subtype == "error_during_execution"
    assert interrupted.data["stop_reason"] is None
    response = session.index(lambda e: e.type == "control_response")
    assert response < session.index(lambda e: e.data.get("uuid") == prompt["uuid"])
    assert second.subtype == "success"
    assert fake_model.agent_requests[-1].prompt == "THINK hard\nGo on"


def test_a_line_sent_while_the_model_writes_text_becomes_the_next_turn(
    fake_model: FakeModel, start_claude: StartClaude
) -> None:
    """No tool boundary in a text-only turn: the line waits for its ``result``, then runs alone."""
    release = threading.Event()

    def slow_text(request: ModelRequest) -> list[Block]:
        if request.prompt == "Think slowly":
            release.wait(TURN_TIMEOUT_S)
        return scripted_policy(request)

    fake_model.responder = slow_text
    session = start_claude()
    session.send(user_line("Think slowly"))
    fake_model.wait_for_text("Think slowly", TURN_TIMEOUT_S)
    later = user_line("Sent while it thinks", priority="next")
    session.send(later)
    release.set()
    first = session.wait_result(TURN_TIMEOUT_S)
    second = session.wait_result(TURN_TIMEOUT_S, after=session.events.index(first) + 1)

    assert first.data["result"] == "Done. You said: Think slowly"
    assert second.data["result"] == "Done. You said: Sent while it thinks"
    echo = session.index(lambda e: e.data.get("uuid") == later["uuid"])
    assert session.events.index(first) < echo < session.events.index(second)


def test_closing_stdin_mid_turn_lets_the_turn_finish_then_exits_zero(
    fake_model: FakeModel, start_claude: StartClaude
) -> None:
    """EOF on stdin during a tool is not an interrupt: tool, model call, ``result``, exit 0."""
    session = start_claude()
    session.send(user_line("Build [[bash: sleep 3]]"))
    session.wait_event(lambda e: e.type == "assistant", TURN_TIMEOUT_S)

    assert session.close() == 0
    assert [e.subtype for e in session.of_type("result")] == ["success"]
    assert fake_model.agent_requests[-1].last_tool_result == "(Bash completed with no output)"
