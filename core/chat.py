"""``AgentChat``: the Python chat client of a run (the seed's ``useAgentChat`` hook), and a CLI.

What it does, and why it is built this way:

* **One background thread with its own event loop** runs two tasks: the SSE
  stream (httpx + httpx-sse) and the sender. Asyncio is used *inside* that
  thread because a blocked socket read cannot be interrupted from another
  thread, while a task can be cancelled: ``close()`` returns at once instead of
  waiting for the next keep-alive.
* **Optimistic sends**: ``send_message`` shows the message at once under a client
  id ``cli-<uuid>``; the sender POSTs it (one at a time, in order), retrying
  network errors and 5xx with the *same* id, so the server stores it once. The
  server's copy — from the POST answer or the stream, whichever comes first —
  replaces the optimistic one by id, so a message is never shown twice. A 4xx
  rolls it back and sets ``error`` to the server's sentence.
* **Resume**: the stream reconnects with ``Last-Event-ID`` (the last cursor it
  received) and exponential backoff, so a reconnect neither loses nor repeats a
  message; ``event: close`` (the run ended) stops it for good.
* **Receipts**: a delivery notice (a message with ``receiptFor``) updates the
  ``receipt`` of the user message it refers to.
* **Snapshots** for UIs (the Streamlit dashboard reruns in other threads):
  ``snapshot()`` returns an immutable view with a ``version`` that grows with
  every change, and ``wait_for_change(version)`` blocks until it does.

CLI (``OMAKASE_API_URL``, ``OMAKASE_API_TOKEN``)::

    python -m core.chat tail RUN_ID [--json]
    python -m core.chat send RUN_ID TEXT [--id CLIENT_ID]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx
from httpx_sse import EventSource
from pydantic import ValidationError

from core.client import detail_of
from core.models import (
    MAX_MESSAGE_CHARS,
    AgentMessage,
    AgentRunStatus,
    MessageSender,
    iso,
    utc_now,
)

log = logging.getLogger(__name__)

#: Client ids of optimistic messages: ``cli-<32 hex>`` (valid server message ids).
CLIENT_ID_PREFIX = "cli-"
#: Stream reconnect backoff: first wait (unless the server's ``retry:`` hint says
#: otherwise), growth factor, ceiling, and the random share added against herds.
RECONNECT_INITIAL_S = 0.5
RECONNECT_FACTOR = 2.0
RECONNECT_MAX_S = 15.0
RECONNECT_JITTER = 0.2
#: A stream silent (not even a keep-alive, sent every 15 s) this long is dead.
STREAM_READ_TIMEOUT_S = 45.0
#: POST attempts for one message, and the backoff between them.
SEND_MAX_ATTEMPTS = 5
SEND_RETRY_INITIAL_S = 0.5
SEND_RETRY_MAX_S = 8.0
#: Longest ``Retry-After`` the client honours (longer ones are capped).
MAX_RETRY_AFTER_S = 30.0
CONNECT_TIMEOUT_S = 5.0
REQUEST_TIMEOUT_S = 15.0
#: How long ``close()`` waits for the background thread.
CLOSE_JOIN_TIMEOUT_S = 5.0
#: Stream answers that will not get better by reconnecting.
FATAL_STREAM_STATUSES = frozenset({400, 401, 403, 404, 422})
#: The API's default address (``python -m api`` without settings).
DEFAULT_API_URL = "http://127.0.0.1:8765"


class ChatEndedError(RuntimeError):
    """The run has ended (or the chat was closed): nothing more can be sent."""


@dataclass(frozen=True, slots=True)
class ChatSnapshot:
    """An immutable view of a chat at one ``version``."""

    version: int
    #: Server messages in cursor order, then the optimistic ones not yet stored.
    messages: tuple[AgentMessage, ...]
    #: Client ids of the optimistic messages among ``messages``.
    pending_ids: frozenset[str]
    error: str | None
    is_connected: bool
    ended: bool
    #: The run's terminal status once the stream closed.
    end_status: AgentRunStatus | None
    #: True once the stream will not reconnect (ended, closed, or a fatal error).
    stopped: bool


def new_client_id() -> str:
    return f"{CLIENT_ID_PREFIX}{uuid.uuid4().hex}"


def retry_after(response: httpx.Response, default: float) -> float:
    try:
        return min(float(response.headers.get("retry-after", default)), MAX_RETRY_AFTER_S)
    except ValueError:
        return default


def retryable(response: httpx.Response) -> bool:
    return response.status_code >= 500 or response.status_code == 429


def validate_content(content: str) -> str:
    text = content.strip()
    if not text:
        raise ValueError("Message content must not be empty or only whitespace.")
    if len(text) > MAX_MESSAGE_CHARS:
        raise ValueError(
            f"Message content is {len(text):,} characters; the limit is {MAX_MESSAGE_CHARS:,}."
        )
    return text


class AgentChat:
    """A live chat with one agent run. Thread-safe; ``close()`` (or ``with``) when done."""

    def __init__(
        self,
        run_id: str,
        *,
        base_url: str,
        token: str,
        start: bool = True,
        on_change: Callable[[ChatSnapshot], None] | None = None,
        reconnect_max_s: float = RECONNECT_MAX_S,
    ) -> None:
        self.run_id = run_id
        self._reconnect_max_s = reconnect_max_s
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._on_change = on_change
        self._lock = threading.Condition()
        self._by_id: dict[str, AgentMessage] = {}
        self._pending: dict[str, AgentMessage] = {}
        self._last_event_id: str | None = None
        self._error: str | None = None
        self._connected = False
        self._end_status: AgentRunStatus | None = None
        self._stopped = False
        self._closed = False
        self._version = 0
        self._snapshot: ChatSnapshot | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._outbox: asyncio.Queue[tuple[str, str]] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._loop_ready = threading.Event()
        if start:
            self.start()

    # --- public state -------------------------------------------------------------

    def snapshot(self) -> ChatSnapshot:
        with self._lock:
            if self._snapshot is None or self._snapshot.version != self._version:
                confirmed = sorted(self._by_id.values(), key=lambda m: m.cursor)
                pending = [m for i, m in self._pending.items() if i not in self._by_id]
                self._snapshot = ChatSnapshot(
                    version=self._version,
                    messages=(*confirmed, *pending),
                    pending_ids=frozenset(self._pending),
                    error=self._error,
                    is_connected=self._connected,
                    ended=self._end_status is not None,
                    end_status=self._end_status,
                    stopped=self._stopped,
                )
            return self._snapshot

    @property
    def messages(self) -> list[AgentMessage]:
        return list(self.snapshot().messages)

    @property
    def error(self) -> str | None:
        return self.snapshot().error

    @property
    def is_connected(self) -> bool:
        return self.snapshot().is_connected

    @property
    def ended(self) -> bool:
        return self.snapshot().ended

    @property
    def last_event_id(self) -> str | None:
        with self._lock:
            return self._last_event_id

    def wait_for_change(self, version: int, timeout: float | None = None) -> ChatSnapshot:
        """Block until the version passes ``version`` (or the timeout); the snapshot then."""
        with self._lock:
            self._lock.wait_for(lambda: self._version > version, timeout)
        return self.snapshot()

    def wait_until(self, predicate: Callable[[ChatSnapshot], bool], timeout: float) -> ChatSnapshot:
        """Block until ``predicate(snapshot)`` holds; raises ``TimeoutError`` after ``timeout``."""
        deadline = time.monotonic() + timeout
        current = self.snapshot()
        while not predicate(current):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"the chat did not reach the expected state: {current}")
            current = self.wait_for_change(current.version, remaining)
        return current

    # --- sending --------------------------------------------------------------------

    def send_message(self, content: str) -> str:
        """Show ``content`` at once and POST it in the background; returns its client id.

        Raises ``ValueError`` for empty or over-long content and ``ChatEndedError``
        once the run has ended or the chat is closed.
        """
        text = validate_content(content)
        client_id = new_client_id()
        optimistic = AgentMessage(
            id=client_id,
            run_id=self.run_id,
            feature_id="",
            project_id="",
            sender=MessageSender.USER,
            content=text,
            timestamp=iso(utc_now()),
            cursor="",
        )
        with self._lock:
            if self._closed:
                raise ChatEndedError("This chat is closed.")
            if self._end_status is not None:
                raise ChatEndedError("This conversation has ended.")
            self._pending[client_id] = optimistic
            self._changed()
        loop, outbox = self._loop, self._outbox
        if loop is None or outbox is None:
            raise ChatEndedError("This chat is not started.")
        loop.call_soon_threadsafe(outbox.put_nowait, (client_id, text))
        return client_id

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._thread_main, name=f"agent-chat {self.run_id}", daemon=True
        )
        self._thread.start()
        self._loop_ready.wait(CLOSE_JOIN_TIMEOUT_S)

    def close(self) -> None:
        """Stop the stream and the sender (unsent messages are dropped); idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already finished
                loop.call_soon_threadsafe(self._cancel_tasks)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(CLOSE_JOIN_TIMEOUT_S)
        with self._lock:
            self._connected = False
            self._stopped = True
            self._changed()

    def __enter__(self) -> AgentChat:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- state changes (callers hold no lock) ---------------------------------------

    def _changed(self) -> None:
        """Bump the version and wake waiters; the caller holds the lock."""
        self._version += 1
        self._lock.notify_all()

    def _notify(self) -> None:
        if self._on_change is not None:
            try:
                self._on_change(self.snapshot())
            except Exception:
                log.exception("chat on_change callback failed")

    def _apply(self, message: AgentMessage) -> None:
        """A server copy: replaces its optimistic copy; a receipt notice updates its target."""
        with self._lock:
            self._pending.pop(message.id, None)
            if message.id not in self._by_id:
                self._by_id[message.id] = message
            target = self._by_id.get(message.receipt_for) if message.receipt_for else None
            if target is not None and message.receipt is not None:
                self._by_id[target.id] = target.model_copy(update={"receipt": message.receipt})
            self._changed()
        self._notify()

    def _roll_back(self, client_id: str, error: str) -> None:
        with self._lock:
            self._pending.pop(client_id, None)
            self._error = error
            self._changed()
        self._notify()

    def _set(self, **changes: Any) -> None:
        with self._lock:
            for name, value in changes.items():
                setattr(self, f"_{name}", value)
            self._changed()
        self._notify()

    # --- the background thread --------------------------------------------------------

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        finally:
            self._loop_ready.set()
            with self._lock:
                self._connected = False
                self._stopped = True
                self._changed()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._outbox = asyncio.Queue()
        timeout = httpx.Timeout(REQUEST_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
        headers = {"Authorization": f"Bearer {self._token}"}
        async with httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=timeout
        ) as http:
            self._tasks = [
                asyncio.create_task(self._stream_forever(http)),
                asyncio.create_task(self._send_forever(http)),
            ]
            self._loop_ready.set()
            if self._closed:
                self._cancel_tasks()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _cancel_tasks(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def _stream_forever(self, http: httpx.AsyncClient) -> None:
        delay = RECONNECT_INITIAL_S
        stream_url = f"/api/agent-runs/{self.run_id}/messages/stream"
        stream_timeout = httpx.Timeout(STREAM_READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
        while True:
            headers = {"Accept": "text/event-stream"}
            if self._last_event_id is not None:
                headers["Last-Event-ID"] = self._last_event_id
            try:
                async with http.stream(
                    "GET", stream_url, headers=headers, timeout=stream_timeout
                ) as response:
                    if response.status_code != 200:
                        await response.aread()
                        detail = detail_of(response)
                        if response.status_code in FATAL_STREAM_STATUSES:
                            self._set(error=detail, connected=False, stopped=True)
                            return
                        self._set(error=detail, connected=False)
                        await asyncio.sleep(retry_after(response, delay))
                        continue
                    self._set(connected=True, error=None)
                    delay = RECONNECT_INITIAL_S
                    async for sse in EventSource(response).aiter_sse():
                        if sse.retry is not None:
                            delay = sse.retry / 1000
                        if sse.event == "close":
                            status = AgentRunStatus(json.loads(sse.data)["status"])
                            self._set(end_status=status, connected=False, stopped=True)
                            return
                        if sse.event != "message" or not sse.data:
                            continue
                        try:
                            message = AgentMessage.model_validate_json(sse.data)
                        except ValidationError:
                            log.warning("skipped a malformed stream event %r", sse.id)
                            continue
                        with self._lock:
                            self._last_event_id = sse.id or message.cursor
                        self._apply(message)
            except httpx.HTTPError as error:
                self._set(error=f"The chat stream was interrupted: {error}", connected=False)
            else:
                self._set(connected=False)  # the server ended the stream without close
            wait = delay * (1 + random.uniform(0, RECONNECT_JITTER))  # noqa: S311 - jitter
            await asyncio.sleep(wait)
            delay = min(max(delay, RECONNECT_INITIAL_S) * RECONNECT_FACTOR, self._reconnect_max_s)

    async def _send_forever(self, http: httpx.AsyncClient) -> None:
        assert self._outbox is not None
        while True:
            client_id, text = await self._outbox.get()
            await self._deliver(http, client_id, text)

    async def _deliver(self, http: httpx.AsyncClient, client_id: str, text: str) -> None:
        url = f"/api/agent-runs/{self.run_id}/messages"
        delay = SEND_RETRY_INITIAL_S
        problem = "no attempt was made"
        for _ in range(SEND_MAX_ATTEMPTS):
            try:
                response = await http.post(url, json={"content": text, "id": client_id})
            except httpx.TransportError as error:
                problem = f"the service could not be reached ({error.__class__.__name__})"
            else:
                if response.status_code in (200, 201):
                    self._apply(AgentMessage.model_validate(response.json()))
                    with self._lock:
                        self._error = None
                        self._changed()
                    return
                if not retryable(response):
                    self._roll_back(client_id, detail_of(response))
                    return
                problem = detail_of(response)
                delay = max(delay, retry_after(response, delay))
            await asyncio.sleep(delay)
            delay = min(delay * RECONNECT_FACTOR, SEND_RETRY_MAX_S)
        self._roll_back(
            client_id, f"The message was not sent after {SEND_MAX_ATTEMPTS} attempts: {problem}."
        )


if __name__ == "__main__":
    # The CLI lives in core/chat_cli.py; `python -m core.chat` stays its entry point.
    from core.chat_cli import main

    sys.exit(main())
