"""Resume storm: 10,000 messages, two API processes, 10 runs, 50 viewers hanging up at random.

Not a test (it takes a minute or two); the reduced version is
``tests/reliability/test_streams_http.py::test_resume_storm_two_processes_exactly_once_in_order``.
Everything runs on 127.0.0.1: a local engine in a temporary directory, two
``python -m api`` processes on free ports sharing it.

* ``WRITERS`` concurrent writer tasks POST ``--messages`` messages (each with a
  client id) round-robin over the runs, alternating between the two processes;
* ``--viewers`` SSE viewers (an equal share per run) follow their run, hang up
  after a random 1..``--leave-max`` messages, and reconnect — to a randomly
  chosen process — with ``Last-Event-ID``, like a browser's EventSource;
* when every POST is acknowledged the runs are completed; each viewer follows
  to ``event: close``.

Checks, per viewer: the cursors and message ids it received equal its run's
stored thread — every message exactly once, in order. Prints the figures and
exits 1 on any violation.

Usage::

    .venv/bin/python -m bench.resume_storm                      # the full storm
    .venv/bin/python -m bench.resume_storm --messages 1000 --viewers 10
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from api.store.messages import list_messages
from api.store.runs import create_run
from core.models import AgentRun, AgentRunCreate, AgentRunRole
from infra.local_engine import LocalEngine
from tests.support.servers import ApiServer
from tests.support.sse_reader import Follower
from tests.support.store import tables_on

TOKEN = "storm-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PREFIX = "storm-"
WRITERS = 16
#: Bound on the whole storm: a stuck viewer fails the run instead of hanging it.
DEADLINE_S = 600.0
SEED = 20261124


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--leave-max", type=int, default=400)
    return parser.parse_args(argv)


def chooser(
    rng: random.Random, clients: list[httpx.AsyncClient]
) -> Callable[[], httpx.AsyncClient]:
    """Each reconnect goes to a randomly chosen API process."""
    return lambda: rng.choice(clients)


async def storm(
    args: argparse.Namespace, apis: list[ApiServer], runs: list[AgentRun]
) -> tuple[list[Follower], dict[str, float]]:
    rng = random.Random(SEED)
    clients = [
        httpx.AsyncClient(
            base_url=a.url,
            headers=AUTH,
            timeout=30.0,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=None),
        )
        for a in apis
    ]
    figures: dict[str, float] = {}
    try:
        followers = []
        for i in range(args.viewers):
            followers.append(
                Follower(
                    clients[i % 2],
                    runs[i % len(runs)].id,
                    pick_client=chooser(random.Random(rng.random()), clients),
                )
            )
        started = time.monotonic()
        reading = asyncio.gather(
            *(
                f.follow(
                    deadline_s=DEADLINE_S,
                    leave_every=(1, args.leave_max),
                    rng=random.Random(rng.random()),
                )
                for f in followers
            ),
            return_exceptions=True,
        )
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in range(args.messages):
            queue.put_nowait(n)
        refused = 0

        async def writer(w: int) -> None:
            nonlocal refused
            while not queue.empty():
                n = queue.get_nowait()
                run = runs[n % len(runs)]
                body = {"content": f"storm {n}", "id": f"storm-{n}"}
                while True:
                    response = await clients[(n + w) % 2].post(
                        f"/api/agent-runs/{run.id}/messages", json=body
                    )
                    if response.status_code in (200, 201):
                        break
                    refused += 1  # 503 under contention: retry the same id
                    await asyncio.sleep(0.05)

        await asyncio.gather(*(writer(w) for w in range(WRITERS)))
        figures["write_s"] = time.monotonic() - started
        figures["refused_posts"] = refused
        for i, run in enumerate(runs):
            response = await clients[i % 2].patch(
                f"/api/agent-runs/{run.id}", json={"status": "completed"}
            )
            response.raise_for_status()
        for follower, outcome in zip(followers, await reading, strict=True):
            if isinstance(outcome, BaseException):
                follower.errors.append(f"viewer crashed: {outcome!r}")
                print(f"viewer of {follower.run_id} crashed: {outcome!r}", file=sys.stderr)
        figures["total_s"] = time.monotonic() - started
        return followers, figures
    finally:
        for client in clients:
            await client.aclose()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, LocalEngine(Path(tmp) / "dynamodb") as engine:
        db = tables_on(engine.endpoint, PREFIX)
        runs = [
            create_run(
                db,
                data=AgentRunCreate(
                    project_id="prj_storm", feature_id=f"feat_storm{i}", role=AgentRunRole.CODER
                ),
            )
            for i in range(args.runs)
        ]
        env = {"OMAKASE_AUTO_START_FEATURES": "false"}
        apis = [
            ApiServer(
                endpoint=engine.endpoint,
                prefix=PREFIX,
                token=TOKEN,
                log_path=Path(tmp) / f"api-{name}.log",
                env=env,
            )
            for name in "ab"
        ]
        try:
            for api in apis:
                api.start()
            followers, figures = asyncio.run(storm(args, apis, runs))
        finally:
            for api in apis:
                api.stop()
        threads = {run.id: list_messages(db, run_id=run.id) for run in runs}
    violations = 0
    for follower in followers:
        stored = threads[follower.run_id]
        if (
            follower.closed_with != "completed"
            or follower.cursors() != [m.cursor for m in stored]
            or follower.message_ids() != [m.id for m in stored]
        ):
            violations += 1
            print(f"VIOLATION viewer of {follower.run_id}: {follower.errors[:3]}", file=sys.stderr)
    user_messages = sum(
        1 for thread in threads.values() for m in thread if m.id.startswith("storm-")
    )
    delivered = sum(len(f.received) for f in followers)
    connects = sum(f.connects for f in followers)
    print(
        f"messages posted and acknowledged: {args.messages:,} over {args.runs} runs, "
        f"2 API processes, {WRITERS} writers; stored: {user_messages:,}\n"
        f"viewers: {args.viewers}, connections: {connects:,} "
        f"(each viewer resumed {connects / args.viewers:.1f} times on average), "
        f"events delivered: {delivered:,}\n"
        f"writes took {figures['write_s']:.1f} s ({args.messages / figures['write_s']:.0f} "
        f"POST/s), refused POSTs retried: {figures['refused_posts']:.0f}; "
        f"storm total {figures['total_s']:.1f} s\n"
        f"viewers with every message exactly once, in order: "
        f"{args.viewers - violations}/{args.viewers}"
    )
    return 1 if violations or user_messages != args.messages else 0


if __name__ == "__main__":
    sys.exit(main())
