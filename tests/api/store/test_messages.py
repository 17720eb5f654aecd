"""The store contract for chat messages, on moto and on the local engine."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from api.store import messages as messages_module
from api.store.db import Db
from api.store.messages import create_message, find_message, list_messages
from api.store.runs import create_run
from core.cursor import format_cursor
from core.models import (
    AgentRun,
    AgentRunCreate,
    AgentRunRole,
    MessageSender,
    MessageType,
)
from core.tables import AGENT_MESSAGES

FROZEN = datetime(2026, 11, 24, 12, 0, 0, 123000, tzinfo=UTC)


def new_run(db: Db) -> AgentRun:
    return create_run(
        db, data=AgentRunCreate(project_id="prj_1", feature_id="feat_1", role=AgentRunRole.CODER)
    )


def post(db: Db, run: AgentRun, content: str, **kwargs: Any) -> Any:
    return create_message(db, run=run, sender=MessageSender.USER, content=content, **kwargs)


def test_same_timestamp_messages_are_all_kept(db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    """The original overwrote same-millisecond messages; 1,000 at one instant stay 1,000."""
    monkeypatch.setattr(messages_module, "utc_now", lambda: FROZEN)
    run = new_run(db)
    for i in range(1_000):
        post(db, run, f"message {i}")
    stored = list_messages(db, run_id=run.id)
    assert len(stored) == 1_000
    assert {m.timestamp for m in stored} == {"2026-11-24T12:00:00.123000Z"}
    assert [m.content for m in stored] == [f"message {i}" for i in range(1_000)]
    assert [m.cursor for m in stored] == [format_cursor(i) for i in range(1, 1_001)]


def test_retry_with_same_client_id_stores_one_message(db: Db) -> None:
    run = new_run(db)
    first, created_first = post(db, run, "ship it", message_id="client-1")
    again, created_again = post(db, run, "ship it", message_id="client-1")
    assert (created_first, created_again) == (True, False)
    assert again == first
    assert [m.id for m in list_messages(db, run_id=run.id)] == ["client-1"]


# The two races below run on the local engine only: moto does not evaluate a
# conditional put atomically with the write across threads, so it can accept two
# puts of one key — the real service (and dynalite) never does.


@pytest.mark.engine
def test_concurrent_retries_with_same_client_id_store_one_message(engine_db: Db) -> None:
    """Eight racing copies of one POST (a client retrying while the first is in flight)."""
    db = engine_db
    run = new_run(db)
    post(db, run, "before")
    barrier = threading.Barrier(8)

    def retry(_: int) -> bool:
        barrier.wait()
        # A cold head cache per writer, as in separate API processes.
        db.heads.forget(db.table(AGENT_MESSAGES), run.id)
        return bool(post(db, run, "same", message_id="dup-1")[1])

    with ThreadPoolExecutor(8) as pool:
        created = list(pool.map(retry, range(8)))
    assert created.count(True) == 1
    ids = [m.id for m in list_messages(db, run_id=run.id)]
    assert ids.count("dup-1") == 1
    assert len(ids) == 2


@pytest.mark.engine
def test_concurrent_writers_get_contiguous_cursors_in_commit_order(engine_db: Db) -> None:
    db = engine_db
    run = new_run(db)
    per_writer = 25

    def write(writer: int) -> list[str]:
        return [post(db, run, f"w{writer}-{i}")[0].cursor for i in range(per_writer)]

    with ThreadPoolExecutor(6) as pool:
        cursors_by_writer = list(pool.map(write, range(6)))
    stored = list_messages(db, run_id=run.id)
    assert [m.cursor for m in stored] == [format_cursor(i) for i in range(1, 6 * per_writer + 1)]
    for writer, cursors in enumerate(cursors_by_writer):
        assert cursors == sorted(cursors), f"writer {writer} saw its keys out of order"
        own = [m.content for m in stored if m.content.startswith(f"w{writer}-")]
        assert own == [f"w{writer}-{i}" for i in range(per_writer)]


def test_queries_follow_last_evaluated_key(db: Db) -> None:
    """More than 1 MB in one run: a single Query page cannot hold it."""
    run = new_run(db)
    body = "x" * 30_000
    for i in range(40):  # 40 x 30 KB = 1.2 MB
        post(db, run, f"{i:03d}{body}")
    pages: list[dict[str, Any]] = []

    def count_pages(params: dict[str, Any], **_: Any) -> None:
        pages.append(params)

    db.client.meta.events.register("provide-client-params.dynamodb.Query", count_pages)
    stored = list_messages(db, run_id=run.id)
    assert len(stored) == 40
    assert len(pages) >= 2, "a >1 MB thread must take several Query pages"
    assert [m.content[:3] for m in stored] == [f"{i:03d}" for i in range(40)]


def test_since_is_a_key_condition_not_a_filter(db: Db) -> None:
    run = new_run(db)
    for i in range(10):
        post(db, run, f"m{i}")
    queries: list[dict[str, Any]] = []
    db.client.meta.events.register(
        "provide-client-params.dynamodb.Query", lambda params, **_: queries.append(dict(params))
    )
    after = list_messages(db, run_id=run.id, since=format_cursor(7))
    assert [m.content for m in after] == ["m7", "m8", "m9"]
    assert len(queries) == 1
    assert "FilterExpression" not in queries[0]
    assert queries[0]["KeyConditionExpression"] == "runId = :r AND #c > :after"
    assert queries[0]["ExpressionAttributeNames"] == {"#c": "cursor"}


def test_since_timestamp_uses_the_timestamp_index(db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    run = new_run(db)
    instants = iter(datetime(2026, 11, 24, 12, 0, s, tzinfo=UTC) for s in range(5))
    monkeypatch.setattr(messages_module, "utc_now", lambda: next(instants))
    for i in range(5):
        post(db, run, f"m{i}")
    queries: list[dict[str, Any]] = []
    db.client.meta.events.register(
        "provide-client-params.dynamodb.Query", lambda params, **_: queries.append(dict(params))
    )
    after = list_messages(db, run_id=run.id, since_timestamp="2026-11-24T12:00:02.000000Z")
    assert [m.content for m in after] == ["m3", "m4"]
    assert queries[0]["IndexName"] == "by_timestamp"
    assert "FilterExpression" not in queries[0]


def test_sender_filters(db: Db) -> None:
    run = new_run(db)
    post(db, run, "from user")
    create_message(
        db,
        run=run,
        sender=MessageSender.AGENT,
        role=AgentRunRole.CODER,
        content="from agent",
    )
    users = list_messages(db, run_id=run.id, sender=MessageSender.USER)
    agents = list_messages(db, run_id=run.id, sender=MessageSender.AGENT)
    assert [m.content for m in users] == ["from user"]
    assert [(m.content, m.role) for m in agents] == [("from agent", AgentRunRole.CODER)]


def test_message_carries_run_feature_and_project(db: Db) -> None:
    run = new_run(db)
    message, _ = post(db, run, "hello", type=MessageType.MESSAGE)
    assert (message.run_id, message.feature_id, message.project_id) == (
        run.id,
        "feat_1",
        "prj_1",
    )
    assert find_message(db, run_id=run.id, message_id=message.id) == message


def test_runs_do_not_share_threads(db: Db) -> None:
    first, second = new_run(db), new_run(db)
    post(db, first, "one")
    post(db, second, "two")
    assert [m.content for m in list_messages(db, run_id=first.id)] == ["one"]
    assert [m.content for m in list_messages(db, run_id=second.id)] == ["two"]
    assert list_messages(db, run_id=second.id)[0].cursor == format_cursor(1)
