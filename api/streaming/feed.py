"""What run feeds and feature feeds share: viewers, the first read, the fixed-rate poller.

A feed is one API process's view of one thread (a run's) or one conversation (a
feature's), shared by all its viewers there: store reads grow with the watched
runs and features, never with the viewers. Subclasses say what a poll reads
(``_read``) and when the feed is finished; this module runs the poller (fixed
rate, back-off on store errors, woken early by the bus or a gap), answers the
route's "did the first read work?" (404 / 503), and holds the stream slot.

``FeedHost`` is what a feed uses of the hub that owns it: declared here, so
the feeds import only this module and the hub imports the feeds — never the
other way round (no import cycle between the hub and its feeds).
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from typing import ParamSpec, Protocol, TypeVar

import anyio

from api.settings import Settings
from api.store.db import Db
from api.store.errors import NotFoundError, StoreError, StoreUnavailableError
from core.models import AgentMessage, AgentRun

P = ParamSpec("P")
T = TypeVar("T")

log = logging.getLogger(__name__)

#: A feed without viewers keeps its window this long (its poller stops at once).
IDLE_FEED_TTL_S = 30.0
#: Writes may still land this long after a run or feature ended (its end notice); then close.
STREAM_CLOSE_GRACE_S = 1.0
#: Safety re-read of the status for changes made without a notice.
STATUS_REFRESH_S = 10.0
#: A poller that hit a store error waits this long before trying again.
POLL_ERROR_BACKOFF_S = 2.0
#: Longest a new stream waits for its feed's first read before a 503.
STREAM_OPEN_TIMEOUT_S = 10.0


class FeedHost(Protocol):
    """What a feed needs of its hub (``api.streaming.hub.StreamHub``)."""

    settings: Settings
    db: Db

    async def read_store(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """A blocking store call, run in a worker thread under the hub's limiter."""
        ...

    def read_run_feed(
        self, *, run_id: str, after: int, with_status: bool
    ) -> tuple[AgentRun | None, list[AgentMessage]]: ...

    def read_head_at_most(self, *, run_id: str, at_most: int) -> int: ...

    def release(self, feed: Feed) -> None: ...

    def forget(self, feed: Feed) -> None: ...

    def drop_if_idle(self, feed: Feed) -> None: ...


class Feed(ABC):
    """The lifecycle of one feed (event-loop only)."""

    def __init__(self, hub: FeedHost, key: str) -> None:
        self.hub = hub
        #: The run id or feature id: the feed's key in the hub's registry.
        self.key = key
        self.subscribers = 0
        #: Set when the first read found no such run or feature (the route answers 404).
        self.not_found: NotFoundError | None = None
        self.ready = asyncio.Event()
        #: Set once the first read was tried, whatever came of it (viewers stop waiting).
        self.first_read_tried = asyncio.Event()
        #: Why the last first-read attempt failed (the store is down): viewers get a 503.
        self.open_error: StoreError | None = None
        self._changed = asyncio.Event()
        self._poll_now = asyncio.Event()
        self._need_status = True
        self._status_read_at = 0.0
        self._recheck_at: float | None = None
        self._poller: asyncio.Task[None] | None = None
        self._drop_handle: asyncio.TimerHandle | None = None

    @property
    @abstractmethod
    def finished(self) -> bool:
        """True once nothing more can arrive (the poller then stops)."""

    @abstractmethod
    async def _read(self, *, first: bool, need_status: bool) -> None:
        """One poll: read the store, call ``_opened()`` on the first success, absorb."""

    @abstractmethod
    def _forget_unknown(self) -> None:
        """The first read found nothing: mark the feed finished."""

    # --- what subscribers use -------------------------------------------------------

    @property
    def changed(self) -> asyncio.Event:
        """An event set at the next change (take it before reading, then wait on it)."""
        return self._changed

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _opened(self) -> None:
        self.ready.set()
        self.open_error = None
        self.first_read_tried.set()

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        if self._drop_handle is not None:
            self._drop_handle.cancel()
            self._drop_handle = None
        if self._poller is None and not self.finished:
            self._poll_now.set()  # catch up at once (the window may be stale)
            self._poller = asyncio.get_running_loop().create_task(
                self._run(), name=f"stream poller {self.key}"
            )

    def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None

    def schedule_drop(self) -> None:
        loop = asyncio.get_running_loop()
        self._drop_handle = loop.call_later(IDLE_FEED_TTL_S, self.hub.drop_if_idle, self)

    async def _run(self) -> None:
        settings = self.hub.settings
        while not self.finished:
            started = time.monotonic()
            try:
                await self._poll()
                # Fixed rate: a poll's own duration does not stretch the period.
                wait = max(0.0, settings.stream_poll_seconds - (time.monotonic() - started))
            except StoreError as error:
                log.warning("stream poll of %s failed: %s", self.key, error)
                wait = POLL_ERROR_BACKOFF_S
            if self.finished:
                break
            if self._recheck_at is not None:
                wait = min(wait, max(0.0, self._recheck_at - time.monotonic()))
            if time.monotonic() - self._status_read_at >= STATUS_REFRESH_S:
                self._need_status = True
            with anyio.move_on_after(wait):
                await self._poll_now.wait()
            self._poll_now.clear()
        self._poller = None

    async def _poll(self) -> None:
        need_status = self._need_status or (
            self._recheck_at is not None and time.monotonic() >= self._recheck_at
        )
        self._need_status = False
        first = not self.ready.is_set()
        try:
            await self._read(first=first, need_status=need_status)
        except NotFoundError as error:
            if not first:
                raise
            self.not_found = error
            self._forget_unknown()  # stops the poller; nobody streams this feed
            self.hub.forget(self)
            self.ready.set()
            self.first_read_tried.set()
        except StoreError as error:
            if first:
                # Waiting viewers answer 503 now instead of at the open timeout; the
                # poller keeps trying, and later viewers wait for its next attempt.
                self.open_error = error
                self.first_read_tried.set()
            raise


class Subscription(ABC):
    """One SSE viewer of one feed: holds a stream slot until released."""

    def __init__(self, hub: FeedHost, feed: Feed) -> None:
        self.hub = hub
        self.feed = feed
        self._released = False
        #: Run once on release (e.g. the principal's stream slot, ``api.streaming.quota``).
        self.on_release: list[Callable[[], None]] = []

    async def opened(self) -> None:
        """Wait for the feed's first read: raises ``NotFoundError`` for an unknown run or
        feature and ``StoreUnavailableError`` when the store does not answer in time
        (the slot is released)."""
        try:
            with anyio.fail_after(STREAM_OPEN_TIMEOUT_S):
                await self.feed.first_read_tried.wait()
        except TimeoutError:
            self.release()
            raise StoreUnavailableError(
                "Could not open the stream: the store did not answer in time; try again."
            ) from None
        if not self.feed.ready.is_set():
            self.release()
            raise StoreUnavailableError(
                str(self.feed.open_error or "Could not open the stream: the store failed.")
            )
        if self.feed.not_found is not None:
            self.release()
            raise self.feed.not_found

    @abstractmethod
    def events(self) -> AsyncIterator[bytes]:
        """The stream's bytes: the retry hint, the messages, then ``close`` (if it ends)."""

    def release(self) -> None:
        if not self._released:
            self._released = True
            self.hub.release(self.feed)
            for callback in self.on_release:
                callback()
