"""A step's subprocess and the pump that copies its output into the log store.

Why a process group: agent CLIs start children (shells, test runners); cancel
and timeout must end all of them, so the step runs in its own session and is
signalled as a group. Why a pump thread: the log viewer should show a line
about a second after the agent prints it, and a full pipe must never block the
agent, so one thread per step reads both pipes (``selectors``) and writes the
lines in batches (``append_logs``), tagged with the agent's name.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from api.store.db import Db
from api.store.logs import append_logs
from core.models import AgentRun, LogStream

log = logging.getLogger(__name__)

#: Longest a printed line waits before it is written to the log store.
LOG_FLUSH_S = 0.5
#: Lines per write (DynamoDB's batch size).
LOG_BATCH_LINES = 25
#: Grace between SIGTERM and SIGKILL when a step is stopped.
TERMINATE_GRACE_S = 3.0
#: How long the final log flush may take after the process exited.
PUMP_JOIN_TIMEOUT_S = 10.0
READ_CHUNK = 65_536


class LogPump(threading.Thread):
    """Reads a process's stdout and stderr until EOF and stores the lines."""

    def __init__(
        self,
        db: Db,
        run: AgentRun,
        stdout: IO[bytes],
        stderr: IO[bytes],
        *,
        stdout_lines: LineHandler | None = None,
        on_eof: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(name=f"logs-{run.id}", daemon=True)
        self._db = db
        self._run = run
        #: Turns a stdout line into the lines to store (the claude runner's JSON events).
        self._stdout_lines = stdout_lines
        self._on_eof = on_eof
        self._streams = {stdout: LogStream.STDOUT, stderr: LogStream.STDERR}
        self._pending: list[tuple[LogStream, str]] = []
        self._partial: dict[LogStream, bytes] = {}
        self.last_stderr = ""

    def system(self, text: str) -> None:
        """A line from the orchestrator itself (start, exit code), stored at once."""
        self._store([(LogStream.SYSTEM, text)])

    def _store(self, lines: list[tuple[LogStream, str]]) -> None:
        try:
            append_logs(self._db, run=self._run, lines=lines)
        except Exception:  # logs are best effort: never kill the pump
            log.exception("could not store %d log lines of run %s", len(lines), self._run.id)

    def _take(self, stream: LogStream, chunk: bytes) -> None:
        data = self._partial.pop(stream, b"") + chunk
        *lines, rest = data.split(b"\n")
        if rest:
            self._partial[stream] = rest
        for raw in lines:
            self._line(stream, raw.decode("utf-8", errors="replace").rstrip("\r"))

    def _line(self, stream: LogStream, text: str) -> None:
        if stream is LogStream.STDERR and text.strip():
            self.last_stderr = text.strip()
        if stream is not LogStream.STDOUT or self._stdout_lines is None:
            self._pending.append((stream, text))
            return
        try:
            shown = self._stdout_lines(text)
        except Exception:  # a handler bug must not stop the logs (or the step)
            log.exception("run %s: could not handle an output line", self._run.id)
            shown = [text]
        self._pending.extend((stream, line) for line in shown)

    def run(self) -> None:
        selector = selectors.DefaultSelector()
        for pipe, stream in self._streams.items():
            selector.register(pipe, selectors.EVENT_READ, stream)
        open_pipes = len(self._streams)
        last_flush = time.monotonic()
        while open_pipes:
            for key, _ in selector.select(timeout=LOG_FLUSH_S):
                chunk = os.read(key.fd, READ_CHUNK)
                if not chunk:
                    selector.unregister(key.fileobj)
                    open_pipes -= 1
                    continue
                self._take(key.data, chunk)
            due = time.monotonic() - last_flush >= LOG_FLUSH_S
            if self._pending and (due or len(self._pending) >= LOG_BATCH_LINES):
                self._store(self._pending)
                self._pending = []
                last_flush = time.monotonic()
        selector.close()
        for stream, rest in self._partial.items():
            self._line(stream, rest.decode("utf-8", errors="replace"))
        if self._pending:
            self._store(self._pending)
            self._pending = []
        if self._on_eof is not None:
            try:
                self._on_eof()
            except Exception:
                log.exception("run %s: end-of-output callback failed", self._run.id)


LineHandler = Callable[[str], list[str]]


class StepProcess:
    """One running step: the process (in its own session) and its log pump.

    ``stdin_pipe`` keeps the agent's input open (the claude runner writes JSON
    lines to it for the whole step); otherwise the agent reads nothing from us.
    """

    def __init__(
        self,
        *,
        db: Db,
        run: AgentRun,
        argv: list[str],
        env: dict[str, str],
        cwd: Path,
        stdin_pipe: bool = False,
        stdout_lines: LineHandler | None = None,
        on_eof: Callable[[], None] | None = None,
    ) -> None:
        self.run = run
        self.started = time.monotonic()
        self.popen = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        assert self.popen.stdout is not None
        assert self.popen.stderr is not None
        self.pump = LogPump(
            db,
            run,
            self.popen.stdout,
            self.popen.stderr,
            stdout_lines=stdout_lines,
            on_eof=on_eof,
        )
        self.pump.start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def poll(self) -> int | None:
        return self.popen.poll()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)

    def stop(self) -> int:
        """End the process group (SIGTERM, then SIGKILL after a grace); returns the exit code."""
        if self.popen.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=TERMINATE_GRACE_S)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.popen.wait()
        else:
            self._signal(signal.SIGKILL)  # children the agent left behind
        return self.popen.returncode

    def finish_logs(self) -> None:
        """Wait until every printed line is stored (the pipes reach EOF after exit)."""
        self.pump.join(timeout=PUMP_JOIN_TIMEOUT_S)
        for pipe in (self.popen.stdin, self.popen.stdout, self.popen.stderr):
            if pipe is not None:
                pipe.close()
