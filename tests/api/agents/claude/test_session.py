"""The live session's decisions, without a CLI or a store: what it writes, and when it ends a step.

The transport is a byte buffer and the effects a recorder; the events are the
JSON lines Claude Code prints (shapes from docs/CLAUDE_STREAM.md). The same
decisions are proven end to end with the real CLI in ``test_live_steering.py``.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from api.agents.claude.transport import ClaudeChannel
from api.agents.live.channel import JsonLines
from api.agents.live.contract import message_uuid
from api.agents.live.session import MAX_EXTRA_TURNS, LiveSession
from core.models import (
    AgentMessage,
    AgentRunStatus,
    DeliveryMode,
    DeliveryReceipt,
    MessageSender,
    ReceiptState,
    RunUsage,
)

DEADLINE_S = 5.0


class Recorder:
    def __init__(self) -> None:
        self.said: list[str] = []
        self.phases: list[AgentRunStatus] = []
        self.sent_ids: list[str] = []
        self.delivered_ids: list[str] = []
        self.total: RunUsage | None = None
        self.refuse: set[str] = set()
        self.store: list[AgentMessage] = []

    def say(self, text: str) -> None:
        self.said.append(text)

    def phase(self, status: AgentRunStatus) -> None:
        self.phases.append(status)

    def sending(self, message: AgentMessage) -> AgentMessage | None:
        if message.id in self.refuse:
            return None
        return message.model_copy(update={"receipt": DeliveryReceipt(state=ReceiptState.SENT)})

    def sent(self, message: AgentMessage) -> None:
        self.sent_ids.append(message.id)

    def delivered(self, message: AgentMessage) -> None:
        self.delivered_ids.append(message.id)

    def usage(self, total: RunUsage) -> None:
        self.total = total

    def new_user_messages(self) -> list[AgentMessage]:
        found, self.store = self.store, []
        return found


class Stdin(io.BytesIO):
    def close(self) -> None:
        self.was_closed = True

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.getvalue().splitlines()]


def user_message(message_id: str, mode: DeliveryMode | None = None) -> AgentMessage:
    return AgentMessage(
        id=message_id,
        run_id="run_1",
        feature_id="feat_1",
        project_id="prj_1",
        sender=MessageSender.USER,
        content=f"words of {message_id}",
        timestamp="2026-11-30T00:00:00.000000Z",
        cursor="000000000001",
        receipt=DeliveryReceipt(state=ReceiptState.QUEUED),
        mode=mode,
    )


def result(subtype: str = "success", text: str = "Done.") -> str:
    return json.dumps(
        {
            "type": "result",
            "subtype": subtype,
            "is_error": subtype != "success",
            "result": text,
            "num_turns": 1,
            "total_cost_usd": 0.01,
            "usage": {"input_tokens": 100, "output_tokens": 20},
        }
    )


def assistant_text(words: str) -> str:
    return json.dumps(
        {"type": "assistant", "message": {"content": [{"type": "text", "text": words}]}}
    )


def tool_use(name: str = "Bash") -> str:
    block = {"type": "tool_use", "id": "tool_1", "name": name, "input": {"command": "sleep 9"}}
    return json.dumps({"type": "assistant", "message": {"content": [block]}})


def replay(uuid: str) -> str:
    return json.dumps({"type": "user", "isReplay": True, "uuid": uuid, "message": {}})


def lines_are(stdin: Stdin, count: int) -> Callable[[], bool]:
    return lambda: len(stdin.lines()) == count


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def parts() -> Iterator[tuple[LiveSession, Stdin, Recorder]]:
    stdin, effects = Stdin(), Recorder()
    stdin.was_closed = False
    session = LiveSession(
        channel=ClaudeChannel(JsonLines(stdin)),
        effects=effects,
        prompt="You are the coder.",
        work_phase=AgentRunStatus.CODING,
        poll_s=0.05,
        untaken_grace_s=0.5,
    )
    session.start()
    yield session, stdin, effects
    session.stop()


def test_the_prompt_starts_the_first_turn(parts: tuple[LiveSession, Stdin, Recorder]) -> None:
    session, stdin, effects = parts
    [first] = stdin.lines()
    assert first["type"] == "user"
    assert first["message"]["content"] == "You are the coder."
    assert effects.phases == [AgentRunStatus.THINKING]
    session.handle_line(tool_use())
    assert effects.phases == [AgentRunStatus.THINKING, AgentRunStatus.CODING]


def test_a_steer_is_written_with_its_uuid_and_delivered_on_the_echo(
    parts: tuple[LiveSession, Stdin, Recorder],
) -> None:
    session, stdin, effects = parts
    session.handle_line(tool_use())
    session.offer(user_message("msg_a"))
    eventually(lambda: len(stdin.lines()) == 2, "the steer line")
    line = stdin.lines()[1]
    assert line["uuid"] == message_uuid("msg_a")
    assert line["priority"] == "next"
    assert line["message"]["content"] == "words of msg_a"
    eventually(lambda: effects.sent_ids == ["msg_a"], "the sent notice")
    assert effects.delivered_ids == []
    session.handle_line(replay(message_uuid("msg_a")))
    assert effects.delivered_ids == ["msg_a"]


def test_the_same_message_twice_is_written_once(
    parts: tuple[LiveSession, Stdin, Recorder],
) -> None:
    session, stdin, _ = parts
    session.offer(user_message("msg_a"))
    session.offer(user_message("msg_a"))
    eventually(lambda: len(stdin.lines()) == 2, "the steer line")
    time.sleep(0.2)
    assert len(stdin.lines()) == 2


def test_queued_and_withdrawn_messages_are_not_written(
    parts: tuple[LiveSession, Stdin, Recorder],
) -> None:
    session, stdin, effects = parts
    effects.refuse.add("msg_gone")
    session.offer(user_message("msg_later", DeliveryMode.QUEUE))
    session.offer(user_message("msg_gone"))
    session.offer(user_message("msg_now"))
    eventually(lambda: len(stdin.lines()) == 2, "the steer line")
    assert stdin.lines()[1]["uuid"] == message_uuid("msg_now")


def test_interrupt_writes_the_message_then_the_control_request(
    parts: tuple[LiveSession, Stdin, Recorder],
) -> None:
    """The message first: queued in the CLI, it starts the turn after the cut one."""
    session, stdin, _ = parts
    session.handle_line(tool_use())
    session.offer(user_message("msg_stop", DeliveryMode.INTERRUPT))
    eventually(lambda: len(stdin.lines()) == 3, "the message and the interrupt")
    message, control = stdin.lines()[1:]
    assert message["uuid"] == message_uuid("msg_stop")
    assert control["type"] == "control_request"
    assert control["request"] == {"subtype": "interrupt"}
    # The interrupted turn's error result is ours, not a failure.
    session.handle_line(result("error_during_execution", ""))
    assert session.failure is None
    session.handle_line(replay(message_uuid("msg_stop")))
    session.handle_line(result())
    eventually(lambda: stdin.was_closed, "the end of the step")
    assert session.failure is None


def test_a_turn_end_with_nothing_pending_closes_the_input(
    parts: tuple[LiveSession, Stdin, Recorder],
) -> None:
    session, stdin, effects = parts
    session.handle_line(assistant_text("All done."))
    session.handle_line(result(text="All done."))
    eventually(lambda: stdin.was_closed, "the input to close")
    assert effects.said == ["All done."]
    assert effects.total is not None
    assert effects.total.input_tokens == 100
    assert session.final_text == "All done."


def test_a_written_message_not_yet_taken_keeps_the_step_open(
    parts: tuple[LiveSession, Stdin, Recorder],
) -> None:
    session, stdin, _ = parts
    session.offer(user_message("msg_a"))
    eventually(lambda: len(stdin.lines()) == 2, "the steer line")
    session.handle_line(result())
    time.sleep(0.2)
    assert not stdin.was_closed  # the CLI starts a turn for it
    session.handle_line(replay(message_uuid("msg_a")))
    session.handle_line(result())
    eventually(lambda: stdin.was_closed, "the input to close")
    assert session.untaken == []


def test_an_untaken_message_ends_the_step_after_the_grace_and_is_reported(
    parts: tuple[LiveSession, Stdin, Recorder],
) -> None:
    session, stdin, _ = parts
    session.offer(user_message("msg_a"))
    eventually(lambda: len(stdin.lines()) == 2, "the steer line")
    session.handle_line(result())
    eventually(lambda: stdin.was_closed, "the grace to pass")
    assert [m.id for m in session.untaken] == ["msg_a"]


def test_a_late_message_from_the_store_starts_one_more_turn(
    parts: tuple[LiveSession, Stdin, Recorder],
) -> None:
    session, stdin, effects = parts
    for index in range(MAX_EXTRA_TURNS + 1):
        effects.store = [user_message(f"msg_late_{index}")]
        session.handle_line(result())
        if index < MAX_EXTRA_TURNS:
            eventually(lines_are(stdin, index + 2), "the late message")
            assert not stdin.was_closed
            session.handle_line(replay(message_uuid(f"msg_late_{index}")))
    # Past the cap the late message waits for the next step; the input closes.
    eventually(lambda: stdin.was_closed, "the input to close")
    assert len(stdin.lines()) == MAX_EXTRA_TURNS + 1


def test_a_failed_turn_fails_the_step(parts: tuple[LiveSession, Stdin, Recorder]) -> None:
    session, stdin, _ = parts
    session.handle_line(result("error_max_turns", ""))
    eventually(lambda: stdin.was_closed, "the input to close")
    assert session.failure == "Claude Code ended a turn with 'error_max_turns'"


def test_no_phase_change_while_the_agent_asks_the_person(
    parts: tuple[LiveSession, Stdin, Recorder],
) -> None:
    session, _, effects = parts
    session.handle_line(tool_use("mcp__omakase__ask_human"))
    assert effects.phases == [AgentRunStatus.THINKING]


def test_a_message_offered_while_an_untaken_one_waits_for_its_turn_is_written_at_once() -> None:
    """The wait for the CLI to take a written message is on the condition, not a sleep:
    with a store poll far longer than the test may take, the next message still goes out."""
    stdin, effects = Stdin(), Recorder()
    stdin.was_closed = False
    session = LiveSession(
        channel=ClaudeChannel(JsonLines(stdin)),
        effects=effects,
        prompt="You are the coder.",
        work_phase=AgentRunStatus.CODING,
        poll_s=10 * DEADLINE_S,
        untaken_grace_s=20 * DEADLINE_S,
    )
    session.start()
    try:
        session.handle_line(tool_use())
        session.offer(user_message("msg_first", DeliveryMode.INTERRUPT))
        eventually(lambda: len(stdin.lines()) == 3, "the message and the interrupt")
        session.handle_line(result("error_during_execution", ""))  # written, not yet taken
        time.sleep(0.1)  # the session thread now waits for the CLI to take it
        session.offer(user_message("msg_next"))
        eventually(lambda: len(stdin.lines()) == 4, "the next message, before any poll")
        assert stdin.lines()[3]["uuid"] == message_uuid("msg_next")
    finally:
        session.stop()


def test_a_message_the_post_stored_sent_is_written_only_when_pushed(
    parts: tuple[LiveSession, Stdin, Recorder],
) -> None:
    """Stored ``sent`` (live) by its POST: written when the bus hands it over, never
    when the store poll finds it (then it is another step's, or already written)."""
    session, stdin, _ = parts
    live = DeliveryReceipt(state=ReceiptState.SENT, channel="live", run_id="run_1")
    found = user_message("msg_polled").model_copy(update={"receipt": live})
    session.offer(found)
    pushed = user_message("msg_pushed").model_copy(update={"receipt": live})
    session.offer(pushed, pushed=True)
    eventually(lambda: len(stdin.lines()) == 2, "the pushed message")
    time.sleep(0.1)
    assert [line["uuid"] for line in stdin.lines()[1:]] == [message_uuid("msg_pushed")]
