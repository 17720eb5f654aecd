"""The hub's feature feeds on moto: shared reads, old-run messages, late runs, resume ids."""

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
from api.store.features import create_feature, update_feature
from api.store.messages import create_message
from api.store.projects import create_project
from api.store.runs import create_run
from api.streaming.feature_feed import FeatureSubscription
from api.streaming.hub import StreamHub
from api.streaming.wire import parse_feature_event_id
from core.models import (
    AgentMessage,
    AgentRun,
    AgentRunCreate,
    AgentRunRole,
    Feature,
    FeatureCreate,
    MessageSender,
    ProjectCreate,
)

#: Failure guard for a receive (a hung test fails; this is not a timing claim).
RECEIVE_GUARD_S = 10.0
ONE_HOUR_S = 3_600.0


@pytest.fixture
async def hub(moto_db: Db) -> AsyncIterator[StreamHub]:
    settings = Settings(
        api_token="t", stream_poll_seconds=ONE_HOUR_S, max_streams=10, gc_freeze=False
    )
    running = StreamHub(settings=settings, db=moto_db, bus=MessageBus())
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


def new_feature(db: Db) -> Feature:
    project = create_project(db, data=ProjectCreate(name="p"))
    return create_feature(db, project_id=project.id, data=FeatureCreate(name="f"))


def start_run(db: Db, feature: Feature, step: int) -> AgentRun:
    run = create_run(
        db,
        data=AgentRunCreate(
            project_id=feature.project_id,
            feature_id=feature.id,
            role=AgentRunRole.CODER,
            step=step,
        ),
    )
    update_feature(db, feature_id=feature.id, current_run_id=run.id)
    return run


class Reader:
    def __init__(self, subscription: FeatureSubscription) -> None:
        self.events = subscription.events()

    async def next(self) -> tuple[str, str]:
        """The next message event's (id, content)."""
        with anyio.fail_after(RECEIVE_GUARD_S):
            raw = (await self.events.__anext__()).decode()
        lines = raw.split("\r\n")
        event_id = lines[0].removeprefix("id: ")
        return event_id, lines[1].split('"content":"', 1)[1].split('"', 1)[0]


def say(db: Db, run: AgentRun, content: str) -> AgentMessage:
    return create_message(db, run=run, sender=MessageSender.USER, content=content)[0]


async def post_via_bus(hub: StreamHub, run: AgentRun, content: str) -> AgentMessage:
    message, _ = await anyio.to_thread.run_sync(
        lambda: post_message(hub.db, hub.bus, run=run, sender=MessageSender.USER, content=content)
    )
    return message


async def opened_reader(hub: StreamHub, feature: Feature, after: dict[str, int]) -> Reader:
    subscription = hub.subscribe_feature(feature_id=feature.id, after=after)
    await subscription.opened()
    reader = Reader(subscription)
    with anyio.fail_after(RECEIVE_GUARD_S):
        assert (await reader.events.__anext__()).startswith(b"retry: ")
    return reader


async def test_runs_in_order_with_shared_reads_for_many_viewers(hub: StreamHub) -> None:
    feature = new_feature(hub.db)
    first, second = start_run(hub.db, feature, 1), start_run(hub.db, feature, 2)
    say(hub.db, second, "b1")
    say(hub.db, first, "a1")
    say(hub.db, first, "a2")
    calls: Counter[str] = Counter()
    lock = threading.Lock()

    def count(model: Any, **_: Any) -> None:
        with lock:
            calls[model.name] += 1

    hub.db.client.meta.events.register("before-call.dynamodb", count)
    try:
        readers = [await opened_reader(hub, feature, {}) for _ in range(3)]
        for reader in readers:
            received = [await reader.next() for _ in range(3)]
            assert [content for _, content in received] == ["a1", "a2", "b1"]
            assert parse_feature_event_id(received[-1][0]) == {first.id: 2, second.id: 1}
    finally:
        hub.db.client.meta.events.unregister("before-call.dynamodb", count)
    assert list(hub.feature_feeds) == [feature.id]
    # The feature item, the run list and each thread, once for the feed: none per viewer.
    assert calls == Counter({"GetItem": 1, "Query": 3})


async def test_old_run_messages_and_a_late_run_arrive_and_resume_exactly_once(
    hub: StreamHub,
) -> None:
    feature = new_feature(hub.db)
    first = start_run(hub.db, feature, 1)
    say(hub.db, first, "a1")
    reader = await opened_reader(hub, feature, {})
    assert (await reader.next())[1] == "a1"
    # A new step starts in another process (no bus), then a notice lands in the old run
    # here: the bus message of a known run arrives at once; the new run is found by the
    # poll it triggers.
    second = create_run(
        hub.db,
        data=AgentRunCreate(
            project_id=feature.project_id,
            feature_id=feature.id,
            role=AgentRunRole.REVIEWER,
            step=2,
        ),
    )
    update_feature(hub.db, feature_id=feature.id, current_run_id=second.id)
    say(hub.db, second, "b1")
    await post_via_bus(hub, first, "a2")
    event_id, content = await reader.next()
    assert content == "a2"
    await post_via_bus(hub, second, "b2")  # unknown run: the feed lists the runs
    assert [(await reader.next())[1] for _ in range(2)] == ["b1", "b2"]
    # Resume from the id after "a2": only the second run's messages follow.
    resumed = await opened_reader(hub, feature, parse_feature_event_id(event_id))
    assert [(await resumed.next())[1] for _ in range(2)] == ["b1", "b2"]
    await post_via_bus(hub, first, "a3")
    assert (await resumed.next())[1] == "a3"
    assert (await reader.next())[1] == "a3"


async def test_unknown_feature_is_not_found_and_forgotten(hub: StreamHub) -> None:
    subscription = hub.subscribe_feature(feature_id="feat_nope", after={})
    with pytest.raises(NotFoundError, match=r"^Feature feat_nope was not found\.$"):
        await subscription.opened()
    assert hub.active_streams == 0
    assert "feat_nope" not in hub.feature_feeds
