"""The stream hub: one feed (and one poller) per watched run or feature, shared by all viewers.

Why: a poller per SSE connection makes DynamoDB reads grow with the number of
people watching. Here each API process keeps one ``RunFeed`` per run
(``api.streaming.run_feed``) and one ``FeatureFeed`` per feature
(``api.streaming.feature_feed``) that has subscribers; their lifecycle is
``api.streaming.feed``'s and their window/gap bookkeeping ``api.streaming.window``'s.
The hub admits streams (the per-process cap), routes the in-process bus to the
feeds, and runs every boto3 call in a worker thread under its own capacity
limiter, never on the event loop and never starving the route handlers' threadpool.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import anyio

from api.runtime import Runtime
from api.services.bus import MessageBus
from api.settings import Settings
from api.store.db import Db
from api.store.messages import list_messages
from api.store.runs import get_run
from api.streaming.feature_feed import FeatureFeed, FeatureSubscription
from api.streaming.feed import STREAM_OPEN_TIMEOUT_S, Feed
from api.streaming.quota import StreamQuota
from api.streaming.run_feed import RunFeed, RunSubscription
from core.cursor import format_cursor, parse_cursor
from core.models import AgentMessage, AgentRun

__all__ = ["STREAM_OPEN_TIMEOUT_S", "StreamHub"]

log = logging.getLogger(__name__)

#: Concurrent store reads of the hub (its own limiter: route handlers keep theirs).
HUB_STORE_THREADS = 16
#: What a client is told to wait when the stream cap is reached.
STREAM_CAP_RETRY_AFTER_S = 5

P = ParamSpec("P")
T = TypeVar("T")
F = TypeVar("F", bound=Feed)

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


#: The sentence a stream gets where no hub runs (a process without the service, or stopping).
HUB_NOT_RUNNING = "The stream hub is not running in this process."


class HubNotRunningError(Exception):
    pass


class StreamHub:
    """The ``Service`` that owns every feed of this process."""

    def __init__(self, *, settings: Settings, db: Db, bus: MessageBus) -> None:
        self.settings = settings
        self.db = db
        self.bus = bus
        #: Run feeds by run id, feature feeds by feature id.
        self.feeds: dict[str, RunFeed] = {}
        self.feature_feeds: dict[str, FeatureFeed] = {}
        self.active_streams = 0
        #: Stream slots per token (an agent token cannot take the operator's slots).
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
        for registry in (self.feeds, self.feature_feeds):
            for feed in registry.values():
                feed.stop()
            registry.clear()
        self._loop = None

    # --- subscribers -------------------------------------------------------------

    def subscribe(self, *, run_id: str, after: int) -> RunSubscription:
        """Reserve a stream slot and join (or create) the run's feed."""
        feed = self._join(self.feeds, run_id, lambda: RunFeed(self, run_id, after))
        return RunSubscription(self, feed, after)

    def subscribe_feature(self, *, feature_id: str, after: dict[str, int]) -> FeatureSubscription:
        """Reserve a stream slot and join (or create) the feature's feed."""
        feed = self._join(self.feature_feeds, feature_id, lambda: FeatureFeed(self, feature_id))
        return FeatureSubscription(self, feed, after)

    def _join(self, registry: dict[str, F], key: str, create: Callable[[], F]) -> F:
        if self._loop is None:
            raise HubNotRunningError(HUB_NOT_RUNNING)
        if self.active_streams >= self.settings.max_streams:
            raise StreamCapReachedError(
                f"This server already serves {self.settings.max_streams:,} streams; "
                f"retry in {STREAM_CAP_RETRY_AFTER_S} seconds."
            )
        feed = registry.get(key)
        if feed is None:
            feed = registry[key] = create()
        self.active_streams += 1
        log.debug("stream opened on %s (%d open)", key, self.active_streams)
        feed.subscribers += 1
        feed.start()
        return feed

    def _registry(self, feed: Feed) -> dict[str, RunFeed] | dict[str, FeatureFeed]:
        return self.feature_feeds if isinstance(feed, FeatureFeed) else self.feeds

    def release(self, feed: Feed) -> None:
        self.active_streams -= 1
        log.debug("stream closed on %s (%d open)", feed.key, self.active_streams)
        feed.subscribers -= 1
        if feed.subscribers == 0:
            feed.stop()
            if self._registry(feed).get(feed.key) is feed:
                feed.schedule_drop()

    def forget(self, feed: Feed) -> None:
        """Remove a feed now (its run or feature does not exist; a later viewer reads again)."""
        registry = self._registry(feed)
        if registry.get(feed.key) is feed:
            del registry[feed.key]

    def drop_if_idle(self, feed: Feed) -> None:
        if feed.subscribers == 0:
            self.forget(feed)

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
        feature_feed = self.feature_feeds.get(message.feature_id)
        if feature_feed is not None and feature_feed.ready.is_set():
            feature_feed.absorb([message])

    async def read_store(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking store call in a worker thread under the hub's limiter."""
        return await anyio.to_thread.run_sync(
            functools.partial(function, *args, **kwargs), limiter=self._limiter
        )

    def read_run_feed(
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
