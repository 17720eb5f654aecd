"""Live chat clients: ``FeatureChat`` (a feature's whole conversation) and ``AgentChat`` (one run).

Both are one ``ChatClient`` over a different stream and POST route; the state
they keep is a ``core.chat_state.Conversation`` (the dashboard renders the
same object). What it does, and why it is built this way:

* **One background thread with its own event loop** runs two tasks: the SSE
  stream (httpx + httpx-sse) and the sender. Asyncio is used *inside* that
  thread because a blocked socket read cannot be interrupted from another
  thread, while a task can be cancelled: ``close()`` returns at once.
* **Optimistic sends**: ``send_message`` shows the message at once under a client
  id; the sender POSTs it (one at a time, in order), retrying network errors
  and 5xx with the *same* id, so the server stores it once. The echo replaces
  the optimistic copy by id; a 4xx rolls it back with the server's sentence.
* **Resume**: the stream reconnects with ``Last-Event-ID`` and exponential
  backoff, so a reconnect neither loses nor repeats a message; ``event: close``
  (the run or feature ended) stops it for good.
* **Snapshots** for UIs: ``snapshot()`` is an immutable view with a ``version``
  that grows with every change; ``wait_for_change(version)`` blocks until it does.

CLI: ``python -m core.chat tail RUN_ID`` / ``send RUN_ID TEXT`` (core/chat_cli.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time
from collections.abc import Callable
from enum import StrEnum
from functools import partial
from types import TracebackType
from typing import Any

import httpx

from core.api_http import detail_of
from core.chat_loop import Outbox, send_forever, stream_forever
from core.chat_state import CLIENT_ID_PREFIX, Conversation, new_client_id
from core.chat_wire import (
    CLOSE_JOIN_TIMEOUT_S,
    CONNECT_TIMEOUT_S,
    RECONNECT_MAX_S,
    REQUEST_TIMEOUT_S,
    ChatEndedError,
    ChatSnapshot,
    unreachable,
    validate_content,
)
from core.models import AgentMessage, DeliveryMode
from core.settings import DEFAULT_API_URL

__all__ = [
    "CLIENT_ID_PREFIX",
    "DEFAULT_API_URL",
    "AgentChat",
    "ChatEndedError",
    "ChatSnapshot",
    "FeatureChat",
    "new_client_id",
]


class ChatClient:
    """A live chat over one SSE stream and one POST route. Thread-safe; ``close()`` when done."""

    def __init__(
        self,
        *,
        stream_path: str,
        post_path: str,
        base_url: str,
        token: str,
        name: str,
        start: bool = True,
        reconnect_max_s: float = RECONNECT_MAX_S,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.stream_path = stream_path
        self.post_path = post_path
        self._name = name
        self._token = token
        self.reconnect_max_s = reconnect_max_s
        self._lock = threading.Condition()
        self.state = Conversation()
        self._connected = False
        self._end_status: StrEnum | None = None
        self._stopped = False
        self._closed = False
        self._snapshot: ChatSnapshot | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._outbox: Outbox | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._loop_ready = threading.Event()
        if start:
            self.start()

    # --- public state -------------------------------------------------------------

    def snapshot(self) -> ChatSnapshot:
        with self._lock:
            state = self.state
            if self._snapshot is None or self._snapshot.version != state.version:
                self._snapshot = ChatSnapshot.of(
                    state,
                    connected=self._connected,
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
            return self.state.last_event_id

    def wait_for_change(self, version: int, timeout: float | None = None) -> ChatSnapshot:
        """Block until the version passes ``version`` (or the timeout); the snapshot then."""
        with self._lock:
            self._lock.wait_for(lambda: self.state.version > version, timeout)
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

    # --- sending and withdrawing ---------------------------------------------------------

    def send_message(self, content: str, *, mode: DeliveryMode | None = None) -> str:
        """Show ``content`` at once and POST it in the background; returns its client id.

        Raises ``ValueError`` for empty or over-long content and ``ChatEndedError``
        once the conversation has ended or the chat is closed.
        """
        text = validate_content(content)
        with self._lock:
            if self._closed:
                raise ChatEndedError("This chat is closed.")
            if self.state.ended:
                raise ChatEndedError("This conversation has ended.")
            optimistic = self.state.add_optimistic(text, mode=mode)
            self._changed()
        loop, outbox = self._loop, self._outbox
        if loop is None or outbox is None:
            raise ChatEndedError("This chat is not started.")
        loop.call_soon_threadsafe(outbox.put_nowait, (optimistic.id, text, mode))
        return optimistic.id

    def withdraw(self, run_id: str, message_id: str) -> bool:
        """``DELETE`` a message not yet delivered; False (and ``error`` set) when refused."""
        timeout = httpx.Timeout(REQUEST_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
        headers = {"Authorization": f"Bearer {self._token}"}
        path = f"/api/agent-runs/{run_id}/messages/{message_id}"
        try:
            with httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout) as http:
                response = http.delete(path)
        except httpx.TransportError as error:
            self.update(partial(Conversation.fail, detail=f"Not withdrawn: {unreachable(error)}."))
            return False
        if response.status_code in (200, 204):
            self.update(partial(Conversation.withdrawn, message_id=message_id, run_id=run_id))
            return True
        self.update(partial(Conversation.fail, detail=f"Not withdrawn: {detail_of(response)}"))
        return False

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._thread_main, name=self._name, daemon=True)
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
        self.set(connected=False, stopped=True)

    def __enter__(self) -> ChatClient:
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
        self.state.version += 1
        self._lock.notify_all()

    def update(self, change: Callable[[Conversation], None]) -> None:
        with self._lock:
            change(self.state)
            self._changed()

    def set(self, **changes: Any) -> None:
        def assign(_: Conversation) -> None:
            for name, value in changes.items():
                setattr(self, f"_{name}", value)

        self.update(assign)

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
                asyncio.create_task(stream_forever(self, http)),
                asyncio.create_task(send_forever(self, http, self._outbox)),
            ]
            self._loop_ready.set()
            if self._closed:
                self._cancel_tasks()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _cancel_tasks(self) -> None:
        for task in self._tasks:
            task.cancel()


class AgentChat(ChatClient):
    """The chat of one agent run (``/api/agent-runs/{runId}/messages``)."""

    def __init__(self, run_id: str, *, base_url: str, token: str, **options: Any) -> None:
        self.run_id = run_id
        super().__init__(
            stream_path=f"/api/agent-runs/{run_id}/messages/stream",
            post_path=f"/api/agent-runs/{run_id}/messages",
            base_url=base_url,
            token=token,
            name=f"agent-chat {run_id}",
            **options,
        )


class FeatureChat(ChatClient):
    """A feature's whole conversation, across its steps (``/api/features/{featureId}/messages``)."""

    def __init__(self, feature_id: str, *, base_url: str, token: str, **options: Any) -> None:
        self.feature_id = feature_id
        super().__init__(
            stream_path=f"/api/features/{feature_id}/messages/stream",
            post_path=f"/api/features/{feature_id}/messages",
            base_url=base_url,
            token=token,
            name=f"feature-chat {feature_id}",
            **options,
        )


if __name__ == "__main__":
    # The CLI lives in core/chat_cli.py; `python -m core.chat` stays its entry point.
    from core.chat_cli import main

    sys.exit(main())
