"""The stream hub: one feed (and one poller) per watched run, shared by all its viewers.

Why: a poller per SSE connection makes DynamoDB reads grow with the number of
people watching. Here each API process keeps one ``RunFeed`` per run that has
subscribers; the feed learns of new messages in two ways and de-duplicates by
cursor:

* **the in-process bus** — a message committed by this process (a POST handled
  here, a status notice, the pipeline) is appended and fanned out at once;
* **a poll** every ``settings.stream_poll_seconds`` (1 s) — a strongly consistent
  "messages after my head" query that finds writes made by other API processes.

Exactly once, in order: key order is commit order (the per-run append in
``api.store.messages``), so a consistent read after cursor ``h`` returns the
contiguous run ``h+1 ..``. The feed keeps a *contiguous* window of encoded
events (``base+1 .. head``); a bus message that arrives ahead of the head (it
overtook another process's commit) is parked and the gap is read from the store
first. Each subscriber remembers the last cursor it sent and only ever sends the
cursors after it, from the window when the window covers them, else from the
store — so a resuming viewer costs a read only when it is far behind.

Closing: every status change posts a notice (``api.services.status``), so a
status/error message makes the feed re-read the run; a terminal status is
acted on once ``STREAM_CLOSE_GRACE_S`` has passed since the run ended (the end
notice is written just after the status change), with a safety re-read every
``STATUS_REFRESH_S`` for changes made without a notice.

Every boto3 call runs in a worker thread under the hub's own capacity limiter,
never on the event loop and never starving the route handlers' threadpool.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import ParamSpec, TypeVar

import anyio

from api.runtime import Runtime
from api.services.bus import MessageBus
from api.settings import Settings
from api.store.db import Db
from api.store.errors import NotFoundError, StoreError, StoreUnavailableError
from api.store.messages import list_messages
from api.store.runs import get_run
from api.streaming.quota import StreamQuota
from api.streaming.wire import close_event, message_event, retry_hint
from core.cursor import format_cursor, parse_cursor
from core.models import AgentMessage, AgentRun, AgentRunStatus, MessageType

log = logging.getLogger(__name__)

#: Encoded events a feed keeps in memory for viewers that join or resume.
FEED_WINDOW_MESSAGES = 2_000
#: Extra entries allowed before the window is trimmed (trimming is a list copy).
FEED_WINDOW_SLACK = 500
#: Largest backlog one store read fetches for a viewer behind the window.
BACKLOG_PAGE_MESSAGES = 500
#: A feed without viewers keeps its window this long (its poller stops at once).
IDLE_FEED_TTL_S = 30.0
#: Writes may still land this long after a run ended (its end notice); then close.
STREAM_CLOSE_GRACE_S = 1.0
#: Safety re-read of the run status for changes made without a notice.
STATUS_REFRESH_S = 10.0
#: A poller that hit a store error waits this long before trying again.
POLL_ERROR_BACKOFF_S = 2.0
#: Concurrent store reads of the hub (its own limiter: route handlers keep theirs).
HUB_STORE_THREADS = 16
#: Longest a new stream waits for its feed's first read before a 503.
STREAM_OPEN_TIMEOUT_S = 10.0
#: What a client is told to wait when the stream cap is reached.
STREAM_CAP_RETRY_AFTER_S = 5

P = ParamSpec("P")
T = TypeVar("T")

#: A message's sequence number and its encoded SSE event.
Entry = tuple[int, bytes]

_STATUS_TYPES = frozenset({MessageType.STATUS, MessageType.ERROR})


_frozen = False


def freeze_startup_objects() -> None:
    """``gc.freeze()`` once per process, after start-up.

    Start-up objects (modules, the app, pydantic schemas) move out of the
    collector's view, so full collections get shorter with many open streams.
    Once only: frozen objects are never collected, so freezing again (an app
    built twice in one process, as tests do) would keep garbage forever.
    """
    global _frozen
    if not _frozen:
        _frozen = True
        gc.collect()
        gc.freeze()


class StreamCapReachedError(Exception):
    """This process already serves ``settings.max_streams`` streams."""


class HubNotRunningError(Exception):
    pass


def _entry(message: AgentMessage) -> Entry:
    return parse_cursor(message.cursor), message_event(message)


def _seconds_since(timestamp: str | None) -> float:
    if timestamp is None:
        return float("inf")
    moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    return (datetime.now(UTC) - moment).total_seconds()


class RunFeed:
    """One run's new messages for every subscriber of this process (event-loop only)."""

    def __init__(self, hub: StreamHub, run_id: str, first_after: int) -> None:
        self.hub = hub
        self.run_id = run_id
        self.subscribers = 0
        #: Entries ``base+1 .. head``, contiguous.
        self.window: list[Entry] = []
        self.base = first_after
        self.head = first_after
        #: Bus messages seen ahead of ``head + 1`` (a gap to read first).
        self.ahead: dict[int, Entry] = {}
        #: The terminal status, once every message up to ``head`` is final.
        self.ended: AgentRunStatus | None = None
        #: Set when the first read found no such run (the route answers 404).
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

    # --- what subscribers use -------------------------------------------------

    @property
    def changed(self) -> asyncio.Event:
        """An event set at the next change (take it before reading, then wait on it)."""
        return self._changed

    async def read_after(self, sent: int) -> list[Entry]:
        """Entries after ``sent``: from the window, or a page from the store if behind it."""
        if sent >= self.base:
            return self.window[sent - self.base :]
        limit = min(self.base - sent, BACKLOG_PAGE_MESSAGES)
        messages = await self.hub.read_store(
            list_messages, self.hub.db, run_id=self.run_id, since=format_cursor(sent), limit=limit
        )
        return [_entry(m) for m in messages]

    # --- what the hub and the poller use --------------------------------------

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def absorb(self, messages: list[AgentMessage]) -> None:
        """Merge messages (from the bus or a poll): append contiguous ones, park the rest."""
        grew = False
        for message in messages:
            sequence, event = _entry(message)
            if message.type in _STATUS_TYPES:
                self._need_status = True
                self._poll_now.set()
            if sequence <= self.head:
                continue
            if not self.ready.is_set() or sequence > self.head + 1:
                self.ahead[sequence] = (sequence, event)
                if self.ready.is_set():
                    self._poll_now.set()  # a gap: read the missing range from the store
                continue
            self.window.append((sequence, event))
            self.head = sequence
            grew = True
        grew = self._drain_ahead() or grew
        if grew:
            self._trim()
            self._notify()

    def _drain_ahead(self) -> bool:
        grew = False
        while self.head + 1 in self.ahead:
            self.window.append(self.ahead.pop(self.head + 1))
            self.head += 1
            grew = True
        for stale in [s for s in self.ahead if s <= self.head]:
            del self.ahead[stale]
        return grew

    def _trim(self) -> None:
        excess = len(self.window) - FEED_WINDOW_MESSAGES
        if excess > FEED_WINDOW_SLACK:
            del self.window[:excess]
            self.base += excess

    def start(self) -> None:
        if self._drop_handle is not None:
            self._drop_handle.cancel()
            self._drop_handle = None
        if self._poller is None and self.ended is None:
            self._poll_now.set()  # catch up at once (the window may be stale)
            self._poller = asyncio.get_running_loop().create_task(
                self._run(), name=f"stream poller {self.run_id}"
            )

    def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None

    def schedule_drop(self) -> None:
        loop = asyncio.get_running_loop()
        self._drop_handle = loop.call_later(IDLE_FEED_TTL_S, self.hub.drop_if_idle, self.run_id)

    async def _run(self) -> None:
        settings = self.hub.settings
        while self.ended is None:
            started = time.monotonic()
            try:
                await self._poll()
                # Fixed rate: a poll's own duration does not stretch the period.
                wait = max(0.0, settings.stream_poll_seconds - (time.monotonic() - started))
            except StoreError as error:
                log.warning("stream poll of run %s failed: %s", self.run_id, error)
                wait = POLL_ERROR_BACKOFF_S
            if self.ended is not None:
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
            run, messages = await self.hub.read_store(
                self.hub.read_feed, run_id=self.run_id, after=self.head, with_status=need_status
            )
        except NotFoundError as error:
            if not first:
                raise
            self.not_found = error
            self.ended = AgentRunStatus.FAILED  # stops the poller; nobody streams this feed
            self.hub.forget(self)
            self.ready.set()
            self.first_read_tried.set()
            return
        except StoreError as error:
            if first:
                # Waiting viewers answer 503 now instead of at the open timeout; the
                # poller keeps trying, and later viewers wait for its next attempt.
                self.open_error = error
                self.first_read_tried.set()
            raise
        if first:
            if not messages and self.head > 0:
                # Resuming past the real end of the thread (a stale or foreign id):
                # learn the real head, so later commits are not skipped.
                self.head = self.base = await self.hub.read_store(
                    self.hub.read_head_at_most, run_id=self.run_id, at_most=self.head
                )
            self.ready.set()
            self.open_error = None
            self.first_read_tried.set()
        self.absorb(messages)
        if run is not None:
            self._status_read_at = time.monotonic()
            self._consider_end(run)

    def _consider_end(self, run: AgentRun) -> None:
        if not run.status.is_terminal:
            self._recheck_at = None
            return
        remaining = STREAM_CLOSE_GRACE_S - _seconds_since(run.completed_at or run.updated_at)
        if remaining > 0:
            self._recheck_at = time.monotonic() + remaining
            return
        # The status was read before the messages, after the grace: every message is in.
        self._recheck_at = None
        if not self.ahead:
            self.ended = run.status
            self._notify()
        else:  # fill the gap first, then decide again
            self._need_status = True
            self._poll_now.set()


class Subscription:
    """One SSE viewer of one run: holds a stream slot until released."""

    def __init__(self, hub: StreamHub, feed: RunFeed, after: int) -> None:
        self.hub = hub
        self.feed = feed
        self.after = after
        #: Run once on release (e.g. the principal's stream slot, ``api.streaming.quota``).
        self.on_release: list[Callable[[], None]] = []
        self._released = False

    async def opened(self) -> None:
        """Wait for the feed's first read: raises ``NotFoundError`` for an unknown run and
        ``StoreUnavailableError`` when the store does not answer in time (slot released)."""
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

    async def events(self) -> AsyncIterator[bytes]:
        """The retry hint, every message after ``after`` exactly once in order, then close."""
        feed = self.feed
        sent = self.after
        try:
            yield retry_hint()
            await feed.ready.wait()
            while True:
                changed = feed.changed
                if sent < feed.head:  # (a caught-up viewer skips the read: cheaper fan-out)
                    batch = await feed.read_after(sent)
                    progressed = False
                    for sequence, event in batch:
                        if sequence == sent + 1:
                            yield event
                            sent = sequence
                            progressed = True
                        # anything else (<= sent) was already sent: dropped
                    if progressed:
                        continue
                if feed.ended is not None and sent >= feed.head:
                    yield close_event(feed.ended)
                    return
                await changed.wait()
        finally:
            self.release()

    def release(self) -> None:
        if not self._released:
            self._released = True
            self.hub.release(self.feed)
            for callback in self.on_release:
                callback()


class StreamHub:
    """The ``Service`` that owns every ``RunFeed`` of this process."""

    def __init__(self, *, settings: Settings, db: Db, bus: MessageBus) -> None:
        self.settings = settings
        self.db = db
        self.bus = bus
        self.feeds: dict[str, RunFeed] = {}
        self.active_streams = 0
        self.quota = StreamQuota(settings)
        self._limiter = anyio.CapacityLimiter(HUB_STORE_THREADS)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unsubscribe: list[object] = []

    # --- Service ----------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._unsubscribe = [self.bus.subscribe(self._on_commit)]
        if self.settings.gc_freeze:
            freeze_startup_objects()

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            if callable(unsubscribe):
                unsubscribe()
        self._unsubscribe = []
        for feed in self.feeds.values():
            feed.stop()
        self.feeds.clear()
        self._loop = None

    # --- subscribers -------------------------------------------------------------

    def subscribe(self, *, run_id: str, after: int) -> Subscription:
        """Reserve a stream slot and join (or create) the run's feed."""
        if self._loop is None:
            raise HubNotRunningError("The stream hub is not running in this process.")
        if self.active_streams >= self.settings.max_streams:
            raise StreamCapReachedError(
                f"This server already serves {self.settings.max_streams:,} streams; "
                f"retry in {STREAM_CAP_RETRY_AFTER_S} seconds."
            )
        feed = self.feeds.get(run_id)
        if feed is None:
            feed = self.feeds[run_id] = RunFeed(self, run_id, after)
        self.active_streams += 1
        log.debug("stream opened on run %s (%d open)", run_id, self.active_streams)
        feed.subscribers += 1
        feed.start()
        return Subscription(self, feed, after)

    def release(self, feed: RunFeed) -> None:
        self.active_streams -= 1
        log.debug("stream closed on run %s (%d open)", feed.run_id, self.active_streams)
        feed.subscribers -= 1
        if feed.subscribers == 0:
            feed.stop()
            if self.feeds.get(feed.run_id) is feed:
                feed.schedule_drop()

    def forget(self, feed: RunFeed) -> None:
        """Remove a feed now (its run does not exist; a later viewer reads again)."""
        if self.feeds.get(feed.run_id) is feed:
            del self.feeds[feed.run_id]

    def drop_if_idle(self, run_id: str) -> None:
        feed = self.feeds.get(run_id)
        if feed is not None and feed.subscribers == 0:
            del self.feeds[run_id]

    # --- the two sources of messages ------------------------------------------------

    def _on_commit(self, message: AgentMessage) -> None:
        """Bus listener: called in the writer's thread after a commit."""
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed during shutdown
            loop.call_soon_threadsafe(self._absorb_committed, message)

    def _absorb_committed(self, message: AgentMessage) -> None:
        feed = self.feeds.get(message.run_id)
        if feed is not None:
            feed.absorb([message])

    async def read_store(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking store call in a worker thread under the hub's limiter."""
        return await anyio.to_thread.run_sync(
            functools.partial(function, *args, **kwargs), limiter=self._limiter
        )

    def read_feed(
        self, *, run_id: str, after: int, with_status: bool
    ) -> tuple[AgentRun | None, list[AgentMessage]]:
        """A poll: the run (first: a terminal status then covers every message read
        after it) and the messages after ``after`` (consistent, contiguous)."""
        run = get_run(self.db, run_id=run_id) if with_status else None
        messages = list_messages(self.db, run_id=run_id, since=format_cursor(after))
        return run, messages

    def read_head_at_most(self, *, run_id: str, at_most: int) -> int:
        """``at_most`` if that message exists (a viewer resuming at the head), else the
        thread's real last cursor (rare: a stale or foreign resume id)."""
        probe = list_messages(self.db, run_id=run_id, since=format_cursor(at_most - 1), limit=1)
        if probe and parse_cursor(probe[0].cursor) == at_most:
            return at_most
        last = 0
        for message in list_messages(self.db, run_id=run_id):
            last = parse_cursor(message.cursor)
        return min(last, at_most)


def add_stream_hub(runtime: Runtime) -> None:
    """Service factory for ``api.app.default_service_factories``."""
    runtime.services.append(StreamHub(settings=runtime.settings, db=runtime.db, bus=runtime.bus))


def find_hub(runtime: Runtime) -> StreamHub:
    for service in runtime.services:
        if isinstance(service, StreamHub):
            return service
    raise HubNotRunningError("The stream hub is not running in this process.")
