"""The stream hub in-process over moto: bus wake-ups, gap filling, one feed per run, the cap.

The hub's poll period is set to an hour here, so anything a test receives came
through the bus or a gap read, never through the periodic poll.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from api.services.bus import MessageBus
from api.services.messages import post_message
from api.settings import Settings
from api.store.db import Db
from api.store.errors import NotFoundError
from api.store.messages import create_message
from api.store.runs import create_run
from api.streaming.hub import StreamCapReachedError, StreamHub
from api.streaming.run_feed import RunFeed, RunSubscription
from core.models import AgentMessage, AgentRun, AgentRunCreate, AgentRunRole, MessageSender

#: Failure guard for a receive (a hung test fails; this is not a timing claim).
RECEIVE_GUARD_S = 10.0
ONE_HOUR_S = 3_600.0


def new_run(db: Db) -> AgentRun:
    return create_run(
        db, data=AgentRunCreate(project_id="prj_1", feature_id="feat_1", role=AgentRunRole.CODER)
    )


@pytest.fixture
async def hub(moto_db: Db) -> AsyncIterator[StreamHub]:
    settings = Settings(
        api_token="t", stream_poll_seconds=ONE_HOUR_S, max_streams=3, gc_freeze=False
    )
    running = StreamHub(settings=settings, db=moto_db, bus=MessageBus())
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


class Reader:
    """Pulls decoded events from a subscription's byte stream."""

    def __init__(self, subscription: RunSubscription) -> None:
        self.events = subscription.events()

    async def next(self) -> bytes:
        with anyio.fail_after(RECEIVE_GUARD_S):
            return await self.events.__anext__()

    async def next_cursor(self) -> str:
        return (await self.next()).decode().split("\r\n")[0].removeprefix("id: ")


async def post_via_bus(hub: StreamHub, run: AgentRun, content: str) -> AgentMessage:
    message, _ = await anyio.to_thread.run_sync(
        lambda: post_message(hub.db, hub.bus, run=run, sender=MessageSender.USER, content=content)
    )
    return message


async def test_bus_message_reaches_the_subscriber_without_a_poll(hub: StreamHub) -> None:
    run = new_run(hub.db)
    subscription = hub.subscribe(run_id=run.id, after=0)
    await subscription.opened()
    reader = Reader(subscription)
    assert (await reader.next()).startswith(b"retry: ")
    posted = await post_via_bus(hub, run, "hello")
    assert await reader.next_cursor() == posted.cursor


async def test_a_gap_is_read_from_the_store_first(hub: StreamHub) -> None:
    """Message 2 arrives by bus before this process has seen message 1 (another process's)."""
    run = new_run(hub.db)
    subscription = hub.subscribe(run_id=run.id, after=0)
    await subscription.opened()
    reader = Reader(subscription)
    await reader.next()  # retry hint
    elsewhere, _ = create_message(hub.db, run=run, sender=MessageSender.USER, content="one")
    here = await post_via_bus(hub, run, "two")
    assert [await reader.next_cursor(), await reader.next_cursor()] == [
        elsewhere.cursor,
        here.cursor,
    ]


async def test_one_feed_and_shared_reads_for_many_subscribers(hub: StreamHub) -> None:
    run = new_run(hub.db)
    for i in range(5):
        create_message(hub.db, run=run, sender=MessageSender.USER, content=f"m{i}")
    calls: Counter[str] = Counter()
    lock = threading.Lock()

    def count(model: Any, **_: Any) -> None:
        with lock:
            calls[model.name] += 1

    hub.db.client.meta.events.register("before-call.dynamodb", count)
    try:
        subscriptions = [hub.subscribe(run_id=run.id, after=0) for _ in range(3)]
        for subscription in subscriptions:
            await subscription.opened()
        readers = [Reader(s) for s in subscriptions]
        for reader in readers:
            await reader.next()  # retry hint
            assert [await reader.next_cursor() for _ in range(5)] == [
                f"{i:012d}" for i in range(1, 6)
            ]
    finally:
        hub.db.client.meta.events.unregister("before-call.dynamodb", count)
    assert list(hub.feeds) == [run.id]
    # One status read and one thread read for the feed, none per subscriber.
    assert calls == Counter({"GetItem": 1, "Query": 1})


async def test_cap_and_release(hub: StreamHub) -> None:
    run = new_run(hub.db)
    subscriptions = [hub.subscribe(run_id=run.id, after=0) for _ in range(3)]
    with pytest.raises(StreamCapReachedError) as raised:
        hub.subscribe(run_id=run.id, after=0)
    assert str(raised.value) == "This server already serves 3 streams; retry in 5 seconds."
    feed = hub.feeds[run.id]
    for subscription in subscriptions:
        subscription.release()
        subscription.release()  # idempotent
    assert (hub.active_streams, feed.subscribers) == (0, 0)
    assert feed._poller is None  # no viewers, no poller


async def test_unknown_run_is_not_found_and_forgotten(hub: StreamHub) -> None:
    subscription = hub.subscribe(run_id="run_nope", after=0)
    with pytest.raises(NotFoundError, match=r"^Agent run run_nope was not found\.$"):
        await subscription.opened()
    assert hub.active_streams == 0
    assert "run_nope" not in hub.feeds


def test_feed_absorbs_out_of_order_and_duplicates(moto_db: Db) -> None:
    hub = StreamHub(settings=Settings(api_token="t"), db=moto_db, bus=MessageBus())
    run = new_run(moto_db)
    messages = [
        create_message(moto_db, run=run, sender=MessageSender.USER, content=f"m{i}")[0]
        for i in range(3)
    ]
    feed = RunFeed(hub, run.id, 0)
    feed.ready.set()
    feed.absorb([messages[2]])
    assert (feed.window.head, sorted(feed.window.ahead)) == (0, [3])
    feed.absorb([messages[0], messages[1], messages[0]])
    assert feed.window.head == 3
    assert [sequence for sequence, _ in feed.window.entries] == [1, 2, 3]
    assert feed.window.ahead == {}


async def test_a_resume_id_past_the_thread_end_does_not_hide_later_messages(
    hub: StreamHub,
) -> None:
    """A stale id (say, from before the store was reset) creates the feed: the feed learns
    the real head, so the next commit still reaches a viewer who starts from the beginning."""
    run = new_run(hub.db)
    for i in range(2):
        create_message(hub.db, run=run, sender=MessageSender.USER, content=f"m{i}")
    stale = hub.subscribe(run_id=run.id, after=50)
    await stale.opened()
    assert hub.feeds[run.id].window.head == 2
    fresh = hub.subscribe(run_id=run.id, after=0)
    await fresh.opened()
    reader = Reader(fresh)
    await reader.next()  # retry hint
    assert [await reader.next_cursor(), await reader.next_cursor()] == [
        "000000000001",
        "000000000002",
    ]
    posted = await post_via_bus(hub, run, "after")
    assert await reader.next_cursor() == posted.cursor
