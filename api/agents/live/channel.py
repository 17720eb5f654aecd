"""How a live session talks to one agent CLI: a JSON-lines writer and the channel protocol.

Why a protocol: the session's decisions (steer now, interrupt first, one more
turn, end of step) are the same for every agent that keeps a conversation open
on stdio; only the wire format differs — Claude Code's stream-json user lines,
codex app-server's JSON-RPC requests. Each runner implements ``AgentChannel``;
``JsonLines`` is what both write through (one object a line, writes serialised
because the session thread, the log pump and a cancel may write at once, a
closed input a clear state rather than a broken pipe).
"""

from __future__ import annotations

import contextlib
import json
import threading
from typing import IO, Any, Protocol

from api.agents.live.events import Event


class TransportClosedError(RuntimeError):
    """The agent's input is closed (the step is ending): nothing more can be written."""


class JsonLines:
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


class AgentChannel(Protocol):
    """One agent CLI's conversation, as the session drives it."""

    #: How the agent is named in failures and logs ("Claude Code", "Codex").
    name: str
    #: An interrupt's message is written before the interrupt itself (Claude Code queues
    #: it for the turn after the cut one) rather than after it (Codex: a new turn).
    message_before_interrupt: bool

    @property
    def closed(self) -> bool: ...

    def begin(self, prompt: str) -> None:
        """Start the first turn with the role prompt."""
        ...

    def send_message(self, text: str, *, uuid: str, idle: bool) -> None:
        """A user message: into the running turn, or (``idle``) as a new turn.
        The agent echoes ``uuid`` when it takes the text (a ``Replay`` event)."""
        ...

    def interrupt(self, tag: str) -> None:
        """Cut the running turn short; a message sent right after starts the next turn."""
        ...

    def parse(self, line: str) -> list[Event] | None:
        """The events of one stdout line (None: not the agent's protocol; logged raw)."""
        ...

    def close(self) -> None:
        """End the agent's input: the CLI exits."""
        ...
