"""The Claude Code subprocess seen as a JSON-lines channel: what we write to its input.

Why a class apart from the session (as in claude-agent-sdk-python): the
session decides *what* to send; the transport owns *how* — one JSON object per
line on stdin, writes serialised (the session's worker thread and a cancel may
write at once), and a closed input is a clear state rather than a broken pipe.
Reading stdout is the log pump's job (``api.agents.process``): one thread per
step reads both pipes and hands each stdout line to the session.
"""

from __future__ import annotations

import contextlib
import json
import threading
from typing import IO, Any

#: ``priority`` of a user message written mid-turn: take it at the next tool boundary.
PRIORITY_NEXT = "next"


class TransportClosedError(RuntimeError):
    """The agent's input is closed (the step is ending): nothing more can be written."""


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


class ClaudeTransport:
    def __init__(self, stdin: IO[bytes]) -> None:
        self._stdin = stdin
        self._lock = threading.Lock()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def send(self, payload: dict[str, Any]) -> None:
        line = (json.dumps(payload, ensure_ascii=False) + "\n").encode()
        with self._lock:
            if self._closed:
                raise TransportClosedError("the agent's input is closed")
            try:
                self._stdin.write(line)
                self._stdin.flush()
            except (BrokenPipeError, ValueError, OSError) as error:  # the process is gone
                self._closed = True
                raise TransportClosedError(f"the agent's input is closed ({error})") from error

    def close(self) -> None:
        """End the agent's input: after its current turn the CLI exits."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            with contextlib.suppress(OSError):
                self._stdin.close()
