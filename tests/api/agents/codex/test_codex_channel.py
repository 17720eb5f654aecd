"""The codex channel and the live session together, without a CLI or a store.

The agent's stdin is a byte buffer, the effects a recorder, and codex's side is
played by feeding ``handle_line`` the JSON-RPC answers and notifications codex
0.171.0 sends (shapes from its generated schema, ``api.agents.codex.protocol``).
The same decisions are proven with the real CLI in ``test_codex_live.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from api.agents.codex.channel import CodexChannel
from api.agents.live.channel import JsonLines
from api.agents.live.contract import message_uuid
from api.agents.live.session import LiveSession
from core.models import AgentRunStatus, DeliveryMode
from tests.api.agents.claude.test_session import Recorder, Stdin, eventually, user_message

THREAD, TURN = "thr_1", "turn_1"


def answer(request_id: int, result: dict[str, Any]) -> str:
    return json.dumps({"id": request_id, "result": result})


def note(method: str, **params: Any) -> str:
    return json.dumps({"method": method, "params": params})


def item(method: str, **fields: Any) -> str:
    return note(method, item=fields, threadId=THREAD, turnId=TURN)


def sent(stdin: Stdin) -> list[dict[str, Any]]:
    return stdin.lines()


def methods(stdin: Stdin) -> list[str]:
    return [str(line.get("method", f"answer {line.get('id')}")) for line in stdin.lines()]


def turn_completed(status: str, turn_id: str = TURN, error: str | None = None) -> str:
    turn = {"id": turn_id, "status": status, "error": {"message": error} if error else None}
    return note("turn/completed", threadId=THREAD, turn=turn)


def usage(input_tokens: int, output_tokens: int) -> str:
    total = {
        "inputTokens": input_tokens,
        "cachedInputTokens": 0,
        "outputTokens": output_tokens,
        "reasoningOutputTokens": 0,
        "totalTokens": input_tokens + output_tokens,
    }
    return note(
        "thread/tokenUsage/updated",
        threadId=THREAD,
        turnId=TURN,
        tokenUsage={"total": total, "last": total},
    )


@pytest.fixture
def parts() -> Iterator[tuple[LiveSession, Stdin, Recorder]]:
    stdin, effects = Stdin(), Recorder()
    stdin.was_closed = False
    session = LiveSession(
        channel=CodexChannel(JsonLines(stdin), cwd="/work/feat", mcp_server="omakase"),
        effects=effects,
        prompt="You are the coder.",
        work_phase=AgentRunStatus.CODING,
        poll_s=0.05,
        untaken_grace_s=0.5,
    )
    session.start()
    yield session, stdin, effects
    session.stop()


def started(session: LiveSession, stdin: Stdin) -> None:
    """Play codex's side up to a running first turn."""
    session.handle_line(answer(1, {"userAgent": "codex"}))
    session.handle_line(answer(2, {"thread": {"id": THREAD}}))
    session.handle_line(note("mcpServer/startupStatus/updated", name="omakase", status="ready"))
    session.handle_line(answer(3, {"turn": {"id": TURN, "status": "inProgress"}}))


def test_the_handshake_waits_for_the_mcp_server_before_the_prompt(
    parts: tuple[LiveSession, Stdin, Recorder],
) -> None:
    session, stdin, _ = parts
    assert methods(stdin) == ["initialize"]
    session.handle_line(answer(1, {"userAgent": "codex"}))
    assert methods(stdin) == ["initialize", "initialized", "thread/start"]
    assert sent(stdin)[2]["params"] == {
        "cwd": "/work/feat",
        "approvalPolicy": "never",
        "sandbox": "danger-full-access",
    }
    assert "jsonrpc" not in sent(stdin)[0]
    session.handle_line(answer(2, {"thread": {"id": THREAD}}))
    session.handle_line(note("mcpServer/startupStatus/updated", name="omakase", status="starting"))
    assert methods(stdin)[-1] == "thread/start"  # the prompt waits for the server's tools
    shown = session.handle_line(
        note("mcpServer/startupStatus/updated", name="omakase", status="ready")
    )
    assert shown == [f"⚙ Codex session {THREAD} (MCP servers: omakase (ready))"]
    turn = sent(stdin)[-1]
    assert turn["method"] == "turn/start"
    assert turn["params"] == {
        "threadId": THREAD,
        "input": [{"type": "text", "text": "You are the coder."}],
    }


def test_a_steer_carries_our_id_and_codex_echo_delivers_it(
    parts: tuple[LiveSession, Stdin, Recorder],
) -> None:
    session, stdin, effects = parts
    started(session, stdin)
    shown = session.handle_line(
        item(
            "item/started",
            type="commandExecution",
            id="call_1",
            command="/bin/bash -lc 'npm test'",
            commandActions=[{"type": "unknown", "command": "npm test"}],
            status="inProgress",
        )
    )
    assert shown == ["▸ exec: npm test"]
    assert effects.phases == [AgentRunStatus.THINKING, AgentRunStatus.CODING]
    session.offer(user_message("msg_a"))
    eventually(lambda: methods(stdin)[-1] == "turn/steer", "the steer")
    assert sent(stdin)[-1]["params"] == {
        "threadId": THREAD,
        "expectedTurnId": TURN,
        "input": [{"type": "text", "text": "words of msg_a"}],
        "clientUserMessageId": message_uuid("msg_a"),
    }
    eventually(lambda: effects.sent_ids == ["msg_a"], "the sent notice")
    assert effects.delivered_ids == []
    session.handle_line(
        item("item/started", type="userMessage", id="u1", clientId=message_uuid("msg_a"))
    )
    assert effects.delivered_ids == ["msg_a"]

    # The turn's words, tokens (no price) and end: then the step ends (input closed).
    session.handle_line(item("item/completed", type="agentMessage", id="m1", text="All green."))
    session.handle_line(usage(1000, 50))
    shown = session.handle_line(turn_completed("completed"))
    assert shown == ["■ turn ended: success · 1000 in / 50 out tokens · no price known"]
    assert effects.said == ["All green."]
    assert effects.total is not None
    assert (effects.total.turns, effects.total.input_tokens, effects.total.cost_usd) == (1, 1000, 0)
    assert session.final_text == "All green."
    assert session.failure is None
    eventually(lambda: stdin.was_closed, "the end of the step")


def test_a_steer_refused_as_the_turn_ended_starts_a_turn_with_the_same_id(
    parts: tuple[LiveSession, Stdin, Recorder],
) -> None:
    session, stdin, _ = parts
    started(session, stdin)
    session.offer(user_message("msg_a"))
    eventually(lambda: methods(stdin)[-1] == "turn/steer", "the steer")
    steer_id = sent(stdin)[-1]["id"]
    error = {"code": -32600, "message": "no active turn to steer"}
    session.handle_line(json.dumps({"id": steer_id, "error": error}))
    retry = sent(stdin)[-1]
    assert retry["method"] == "turn/start"
    assert retry["params"]["clientUserMessageId"] == message_uuid("msg_a")
    assert session.failure is None


def test_interrupt_cuts_the_turn_and_the_message_starts_the_next_one(
    parts: tuple[LiveSession, Stdin, Recorder],
) -> None:
    session, stdin, effects = parts
    started(session, stdin)
    session.offer(user_message("msg_stop", DeliveryMode.INTERRUPT))
    eventually(lambda: methods(stdin)[-2:] == ["turn/interrupt", "turn/start"], "both")
    assert sent(stdin)[-2]["params"] == {"threadId": THREAD, "turnId": TURN}
    assert sent(stdin)[-1]["params"]["clientUserMessageId"] == message_uuid("msg_stop")
    session.handle_line(turn_completed("interrupted"))
    assert session.failure is None  # our own interrupt is not a failure
    assert effects.said == []


def test_a_failed_turn_or_a_refused_thread_fails_the_step(
    parts: tuple[LiveSession, Stdin, Recorder],
) -> None:
    session, stdin, _ = parts
    started(session, stdin)
    session.handle_line(turn_completed("failed", error="stream disconnected"))
    assert session.failure == "Codex ended a turn with 'failed': stream disconnected"
    eventually(lambda: stdin.was_closed, "the end of the step")

    refused = CodexChannel(JsonLines(Stdin()), cwd="/w")
    refused.begin("prompt")
    refused.parse(answer(1, {}))
    [event] = refused.parse(json.dumps({"id": 2, "error": {"message": "bad cwd"}})) or []
    assert getattr(event, "text", "") == "thread/start: bad cwd"


def test_a_request_of_codex_is_answered_so_it_never_waits(
    parts: tuple[LiveSession, Stdin, Recorder],
) -> None:
    session, stdin, _ = parts
    session.handle_line(json.dumps({"id": 77, "method": "mcpServer/elicitation/request"}))
    reply = sent(stdin)[-1]
    assert reply["id"] == 77
    assert reply["error"]["code"] == -32601
