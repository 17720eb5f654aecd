"""Claude Code's side of a live step: the stream-json lines we write, as an ``AgentChannel``.

Why a class apart from the session (as in claude-agent-sdk-python): the
session decides *what* to send; the channel owns *how* — a user line with our
uuid and ``priority: "next"`` (taken at the next tool boundary, echoed back
with ``--replay-user-messages``), an interrupt control request. Reading stdout
is the log pump's job (``api.agents.process``); ``parse`` reads each line.
"""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

from api.agents.claude import events as ev
from api.agents.live.channel import JsonLines, TransportClosedError
from api.agents.live.events import Event

__all__ = ["ClaudeChannel", "TransportClosedError", "interrupt_line", "user_line"]

#: ``priority`` of a user message written mid-turn: take it at the next tool boundary.
PRIORITY_NEXT = "next"


def user_line(text: str, *, uuid: str, session_id: str = "default") -> dict[str, Any]:
    return {
        "type": "user",
        "message": {"role": "user", "content": text},
        "parent_tool_use_id": None,
        "session_id": session_id,
        "uuid": uuid,
        "priority": PRIORITY_NEXT,
    }


def interrupt_line(request_id: str) -> dict[str, Any]:
    return {
        "type": "control_request",
        "request_id": request_id,
        "request": {"subtype": "interrupt"},
    }


class ClaudeChannel:
    name = "Claude Code"
    message_before_interrupt = True

    def __init__(self, lines: JsonLines) -> None:
        self._lines = lines

    @property
    def closed(self) -> bool:
        return self._lines.closed

    def begin(self, prompt: str) -> None:
        self._lines.send(user_line(prompt, uuid=str(uuidlib.uuid4())))

    def send_message(self, text: str, *, uuid: str, idle: bool) -> None:
        del idle  # the same line either way: the CLI starts a turn when none runs
        self._lines.send(user_line(text, uuid=uuid))

    def interrupt(self, tag: str) -> None:
        self._lines.send(interrupt_line(tag))

    def parse(self, line: str) -> list[Event] | None:
        return ev.parse_line(line)

    def close(self) -> None:
        self._lines.close()
