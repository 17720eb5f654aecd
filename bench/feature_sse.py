"""Benchmark: store reads of the feature stream with many viewers (the hub's economy).

Not a test (nothing here asserts a speed). Everything on 127.0.0.1: a local
engine (dynalite) in a temporary directory and one ``bench.serve`` API process
(the real app plus a DynamoDB call counter, ``GET /bench/calls``).

``--features`` features get 4 runs each (steps 1-4, the last one current) with
``BACKLOG_MESSAGES`` messages per run. Viewers open
``GET /api/features/{id}/messages/stream`` spread evenly over the features and
read the backlog; then, for ``--seconds``, this script writes one message per
feature per second straight to the store (as another API process would: no
bus), round-robin over each feature's runs, old runs included. The serving
process's DynamoDB calls are counted over that window, once with one viewer per
feature and once with ``--viewers`` viewers; the difference divided by the extra
viewers is the cost of a viewer (target: ≤ 0.1 read/s).

Usage (about a minute)::

    .venv/bin/python -m bench.feature_sse
    .venv/bin/python -m bench.feature_sse --features 5 --viewers 200 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import httpx

from api.services.bus import MessageBus
from api.services.messages import post_message
from api.store.codec import to_item
from api.store.db import Db
from api.store.features import update_feature
from api.store.ids import new_id
from api.store.runs import create_run
from bench.chat_sse import AUTH, CONNECT_TIMEOUT_S, PREFIX, api_process
from core.models import (
    AgentRun,
    AgentRunCreate,
    AgentRunRole,
    Feature,
    MessageSender,
    iso,
    utc_now,
)
from core.tables import FEATURES
from infra.local_engine import LocalEngine
from tests.support.store import tables_on

FEATURES_DEFAULT = 5
VIEWERS_DEFAULT = 200
MEASURE_SECONDS = 20.0
RUNS_PER_FEATURE = 4
BACKLOG_MESSAGES = 25
WRITES_PER_FEATURE_PER_S = 1.0
ROLES = (AgentRunRole.ARCHITECT, AgentRunRole.CODER, AgentRunRole.REVIEWER, AgentRunRole.TESTER)
READS = ("Query", "GetItem")


def new_feature(db: Db) -> tuple[str, list[AgentRun]]:
    """A pending feature that no watcher starts (it waits on a missing dependency)."""
    now = iso(utc_now())
    feature = Feature(
        id=new_id("feat"),
        project_id="prj_bench",
        name="bench",
        dependencies=["feat_never"],
        created_at=now,
        updated_at=now,
    )
    db.client.put_item(TableName=db.table(FEATURES), Item=to_item(feature.model_dump()))
    runs = []
    for step, role in enumerate(ROLES, start=1):
        run = create_run(
            db,
            data=AgentRunCreate(
                project_id="prj_bench", feature_id=feature.id, role=role, step=step
            ),
        )
        for i in range(BACKLOG_MESSAGES):
            post_message(db, MessageBus(), run=run, sender=MessageSender.USER, content=f"b{i}")
        runs.append(run)
    update_feature(db, feature_id=feature.id, current_run_id=runs[-1].id)
    return feature.id, runs


async def measure(
    url: str, db: Db, features: list[tuple[str, list[AgentRun]]], viewers: int, seconds: float
) -> tuple[float, int, int]:
    """Open the streams, read the backlog, count reads while another writer writes.

    Returns (reads/s, reads to connect + backlog, events short of what was written)."""
    backlog = RUNS_PER_FEATURE * BACKLOG_MESSAGES
    counts = [0] * viewers
    connected = asyncio.Event()

    async def hold(client: httpx.AsyncClient, index: int, feature_id: str) -> None:
        path = f"/api/features/{feature_id}/messages/stream"
        async with client.stream("GET", path, headers=AUTH) as response:
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    counts[index] += 1
                    if all(c >= backlog for c in counts):
                        connected.set()

    async def write_elsewhere(stop: asyncio.Event) -> int:
        written, tick = 0, 0
        bus = MessageBus()  # nobody listens: these are "another process's" writes
        while not stop.is_set():
            for _, runs in features:
                run = runs[tick % len(runs)]
                await asyncio.to_thread(
                    post_message, db, bus, run=run, sender=MessageSender.USER, content="tick"
                )
                written += 1
            tick += 1
            await asyncio.sleep(1.0 / WRITES_PER_FEATURE_PER_S)
        return written

    limits = httpx.Limits(max_connections=viewers + 8, max_keepalive_connections=8)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60.0) as client:
        at_start = (await client.get("/bench/calls")).json()
        tasks = [
            asyncio.create_task(hold(client, i, features[i % len(features)][0]))
            for i in range(viewers)
        ]
        await asyncio.wait_for(connected.wait(), CONNECT_TIMEOUT_S)
        before = (await client.get("/bench/calls")).json()
        stop = asyncio.Event()
        writer = asyncio.create_task(write_elsewhere(stop))
        await asyncio.sleep(seconds)
        after = (await client.get("/bench/calls")).json()
        stop.set()
        written = await writer
        await asyncio.sleep(2.0)  # the last writes reach the viewers (1 s poll)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    per_feature_written = written / len(features)
    short = sum(max(0, int(backlog + per_feature_written) - c) for c in counts)
    reads = sum(after.get(op, 0) - before.get(op, 0) for op in READS) / seconds
    connect = sum(before.get(op, 0) - at_start.get(op, 0) for op in READS)
    return reads, connect, short


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.feature_sse")
    parser.add_argument("--features", type=int, default=FEATURES_DEFAULT)
    parser.add_argument("--viewers", type=int, default=VIEWERS_DEFAULT)
    parser.add_argument("--seconds", type=float, default=MEASURE_SECONDS)
    args = parser.parse_args(argv)
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="omakase-bench-") as tmp,
        LocalEngine(Path(tmp) / "db") as engine,
    ):
        db = tables_on(engine.endpoint, PREFIX)
        for viewers in (args.features, args.viewers):
            features = [new_feature(db) for _ in range(args.features)]
            log = Path(tmp) / f"serve-{viewers}.log"
            with api_process("bench.serve", engine=engine, log=log) as url:
                started = time.perf_counter()
                reads, connect, short = asyncio.run(
                    measure(url, db, features, viewers, args.seconds)
                )
                rows.append((viewers, reads, connect, short, time.perf_counter() - started))
    print(
        f"\nFeature stream store reads: {args.features} features × {RUNS_PER_FEATURE} runs, "
        f"{WRITES_PER_FEATURE_PER_S:g} write/s per feature from another process, "
        f"{args.seconds:.0f} s measured"
    )
    print("| viewers | reads/s (Query + GetItem) | reads to connect + backlog | events missing |")
    print("|---|---|---|---|")
    for viewers, reads, connect, short, _ in rows:
        print(f"| {viewers} | {reads:.1f} | {connect} | {short} |")
    (few, few_reads, *_), (many, many_reads, *_) = rows
    extra = (many_reads - few_reads) / max(many - few, 1)
    print(f"extra reads per viewer: {extra:.4f} read/s (target ≤ 0.1)")
    return 0 if all(row[3] == 0 for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
