"""The real Claude Code CLI as a stream-json subprocess, for tests.

One reader thread timestamps every stdout line, so a test can wait for an event
and compare when it came against the model requests the fake server recorded.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from infra.claude_cli import default_claude_bin
from tests.support.fake_model import FakeModel

#: The tools a coding step needs; as root ``--dangerously-skip-permissions`` is refused.
ALLOWED_TOOLS = ["Bash", "Read", "Edit", "Write", "Glob", "Grep"]
STREAM_ARGS = [
    "-p",
    "--input-format",
    "stream-json",
    "--output-format",
    "stream-json",
    "--verbose",
    "--replay-user-messages",
]
#: How long ``close`` waits for the CLI to exit after stdin closes.
EXIT_TIMEOUT_S = 30.0
#: How often ``wait_until`` looks again.
POLL_S = 0.1
#: How long teardown waits for the stdout reader to see EOF.
READER_JOIN_S = 5.0
#: How much of the CLI's stderr an error message quotes.
STDERR_TAIL = 2000


def claude_env(fake_model: FakeModel, home: Path) -> dict[str, str]:
    """Environment for the CLI: the fake model, a throw-away home, no outside traffic."""
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE"))}
    env.update(
        ANTHROPIC_BASE_URL=fake_model.url,
        ANTHROPIC_API_KEY="test",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        DISABLE_TELEMETRY="1",
        DISABLE_AUTOUPDATER="1",
        MCP_CONNECTION_NONBLOCKING="0",
        HOME=str(home),
        CLAUDE_CONFIG_DIR=str(home / ".claude"),
        # The CLI's scratch files (task output) go here, not to the shared /tmp/claude-<uid>.
        CLAUDE_CODE_TMPDIR=str(home / "tmp"),
    )
    return env


def wait_until(check: Callable[[], bool], timeout: float) -> bool:
    """Poll ``check`` until it holds or ``timeout`` passes (a wait, not a speed claim)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(POLL_S)
    return check()


def user_line(
    content: str, *, uuid_: str | None = None, priority: str | None = None
) -> dict[str, Any]:
    """A stream-json user message (``priority: "next"`` for one sent while a turn runs)."""
    line: dict[str, Any] = {
        "type": "user",
        "message": {"role": "user", "content": content},
        "parent_tool_use_id": None,
        "session_id": "default",
        "uuid": uuid_ or str(uuid.uuid4()),
    }
    if priority:
        line["priority"] = priority
    return line


def interrupt_line(request_id: str = "r1") -> dict[str, Any]:
    return {
        "type": "control_request",
        "request_id": request_id,
        "request": {"subtype": "interrupt"},
    }


@dataclass(frozen=True)
class Event:
    """One stdout line of the CLI, parsed, with the ``time.monotonic()`` it was read."""

    at: float
    data: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.data.get("type", ""))

    @property
    def subtype(self) -> str:
        return str(self.data.get("subtype", ""))


class ClaudeSession:
    """``claude -p`` in stream-json mode in ``cwd``; write lines, wait for events."""

    def __init__(
        self,
        *,
        env: dict[str, str],
        cwd: Path,
        extra_args: list[str] | None = None,
        stderr_path: Path | None = None,
    ) -> None:
        self.argv = [default_claude_bin(), *STREAM_ARGS, "--allowedTools", *ALLOWED_TOOLS]
        self.argv += extra_args or []
        self.env, self.cwd = env, cwd
        #: Outside ``cwd``, so the agent never sees its own log among the files; a
        #: temporary file (removed at exit) unless the caller keeps it somewhere.
        self._own_stderr = stderr_path is None
        self.stderr_path = stderr_path or Path(
            tempfile.mkstemp(prefix="claude-", suffix=".stderr")[1]
        )
        self.events: list[Event] = []
        self.writes: list[tuple[float, dict[str, Any]]] = []
        self._changed = threading.Condition()
        self.process: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> Self:
        """Spawn the CLI in its own process group, so teardown can end its tools too."""
        with self.stderr_path.open("wb") as stderr:
            self.process = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                start_new_session=True,
            )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            try:
                data = json.loads(raw)
            except ValueError:
                data = {"type": "_unparsed", "line": raw.decode(errors="replace")}
            with self._changed:
                self.events.append(Event(time.monotonic(), data))
                self._changed.notify_all()
        with self._changed:
            self.events.append(Event(time.monotonic(), {"type": "_eof"}))
            self._changed.notify_all()

    def send(self, line: dict[str, Any]) -> float:
        """Write one JSON line to stdin; returns when (monotonic) it was written."""
        assert self.process is not None
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(line).encode() + b"\n")
        self.process.stdin.flush()
        at = time.monotonic()
        self.writes.append((at, line))
        return at

    def wait_event(
        self, predicate: Callable[[Event], bool], timeout: float, *, after: int = 0
    ) -> Event:
        """The first event (from index ``after``) matching ``predicate``, within ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for event in self.events[after:]:
                    if predicate(event):
                        return event
                if self.events and self.events[-1].type == "_eof":
                    raise RuntimeError(
                        f"claude exited; events: {self.types()}; stderr: {self.stderr_tail()}"
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no matching event in {timeout} s; events: {self.types()}")
                self._changed.wait(left)

    def wait_result(self, timeout: float, *, after: int = 0) -> Event:
        return self.wait_event(lambda e: e.type == "result", timeout, after=after)

    def of_type(self, kind: str, subtype: str | None = None) -> list[Event]:
        """Events so far of ``type`` ``kind`` (and ``subtype``, if given)."""
        with self._changed:
            return [
                e
                for e in self.events
                if e.type == kind and (subtype is None or e.subtype == subtype)
            ]

    def index(self, predicate: Callable[[Event], bool]) -> int:
        """Position of the first event matching ``predicate`` (ValueError if none)."""
        with self._changed:
            for position, event in enumerate(self.events):
                if predicate(event):
                    return position
        raise ValueError("no such event")

    def stderr_tail(self) -> str:
        return self.stderr_path.read_text(errors="replace")[-STDERR_TAIL:]

    def types(self) -> list[str]:
        return [f"{e.type}/{e.subtype}" if e.subtype else e.type for e in self.events]

    def close(self, timeout: float = EXIT_TIMEOUT_S) -> int:
        """Close stdin and return the exit code (kills the CLI if it outlives ``timeout``).

        Returns after the reader saw EOF too, so ``events`` then holds every line.
        """
        assert self.process is not None
        assert self.process.stdin is not None
        with contextlib.suppress(BrokenPipeError):  # the CLI may be gone already
            self.process.stdin.close()
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._kill()
            raise
        if self._reader is not None:
            self._reader.join(READER_JOIN_S)
        return code

    def _kill(self) -> None:
        """SIGKILL the CLI's whole process group (its Bash tools and MCP servers)."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        if self.process is not None:
            self._kill()
            if self._reader is not None:
                self._reader.join(READER_JOIN_S)
            for stream in (self.process.stdin, self.process.stdout):
                if stream is not None:
                    stream.close()
        if self._own_stderr:
            self.stderr_path.unlink(missing_ok=True)
