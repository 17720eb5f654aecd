"""In-process notification of committed messages.

Why: a message written by this process must reach its SSE subscribers at once,
not at the next poll. Writers call ``publish`` (from any thread) after the
conditional put succeeded; the stream hub subscribes. Messages written by other
processes are found by the hub's poll instead; both paths de-duplicate by cursor.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from core.models import AgentMessage

log = logging.getLogger(__name__)

Listener = Callable[[AgentMessage], None]


class MessageBus:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        #: Runs whose live step (claude) runs in this process and takes messages from this bus.
        self._live_here: dict[str, int] = {}

    def take_live(self, run_id: str) -> Callable[[], None]:
        """A live step of ``run_id`` listens here; returns the function that ends it.

        Why the bus knows: a steer POSTed to this process then reaches that step
        through ``publish`` alone, so the POST may store it already ``sent``
        (``api.routes.messages``) and the step writes it without a store call first.
        """
        with self._lock:
            self._live_here[run_id] = self._live_here.get(run_id, 0) + 1

        def release() -> None:
            with self._lock:
                left = self._live_here.get(run_id, 0) - 1
                if left > 0:
                    self._live_here[run_id] = left
                else:
                    self._live_here.pop(run_id, None)

        return release

    def is_live_here(self, run_id: str) -> bool:
        with self._lock:
            return run_id in self._live_here

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add a listener; returns a function that removes it."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def publish(self, message: AgentMessage) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(message)
            except Exception:  # a broken listener must not fail the write that succeeded
                log.exception("message listener failed")
