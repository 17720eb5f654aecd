"""Benchmark of the chat stream: POST→SSE latency, and store reads with many viewers.

Not a test (nothing here asserts a speed). Everything runs on 127.0.0.1: a local
engine (dynalite) in a temporary directory and API processes on free ports.

1. **latency** — ``VIEWERS`` SSE viewers of one run on process A; messages are
   POSTed one at a time to A (same process: the in-process bus wakes the stream)
   and then to B (another process: A's hub finds them by its 1 s poll). Reports
   p50/p99 of "POST sent → event received".
2. **queries** — ``RUNS`` runs × ``VIEWERS_PER_RUN`` streams, once on the stream
   hub and once on the one-poller-per-connection baseline (``bench/serve.py``),
   while another process writes one message per run per second. Counts the
   serving process's DynamoDB calls (botocore hook) over ``--seconds``.

Usage (about 2 minutes)::

    .venv/bin/python -m bench.chat_sse            # both
    .venv/bin/python -m bench.chat_sse latency    # or one of them
    .venv/bin/python -m bench.chat_sse queries --viewers-per-run 100 --runs 5 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from api.services.bus import MessageBus
from api.services.messages import post_message
from api.store.db import Db
from api.store.runs import create_run
from core.models import AgentRun, AgentRunCreate, AgentRunRole, MessageSender
from infra.local_engine import LocalEngine, free_port
from tests.support.store import tables_on

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PREFIX = "bench-"
#: Latency phase: viewers, messages per phase, pause between POSTs.
LATENCY_VIEWERS = 5
LATENCY_MESSAGES = 300
LATENCY_PACE_S = 0.02
#: Queries phase defaults.
RUNS = 5
VIEWERS_PER_RUN = 100
MEASURE_SECONDS = 20.0
#: Messages already in each run's thread when the viewers connect.
BACKLOG_MESSAGES = 50
#: Writes per run per second from "another process" during the measurement.
WRITES_PER_RUN_PER_S = 1.0
#: Bounds: how long a server may take to start, viewers to connect, a phase to end.
READY_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 60.0
DRAIN_TIMEOUT_S = 15.0


# --- processes ---------------------------------------------------------------------


@contextmanager
def api_process(module: str, *, engine: LocalEngine, log: Path, **env: str) -> Iterator[str]:
    """``python -m <module>`` on a free port; yields its base URL; always stopped."""
    port = free_port()
    environment = {
        **os.environ,
        "OMAKASE_API_HOST": "127.0.0.1",
        "OMAKASE_API_PORT": str(port),
        "OMAKASE_API_TOKEN": TOKEN,
        "OMAKASE_DYNAMODB_ENDPOINT": engine.endpoint,
        "OMAKASE_TABLE_PREFIX": PREFIX,
        "OMAKASE_AUTO_START_FEATURES": "false",
        **env,
    }
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", module], cwd=ROOT, env=environment, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{module} exited early; see {log}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{module} did not start; see {log}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def new_run(db: Db) -> AgentRun:
    return create_run(
        db,
        data=AgentRunCreate(
            project_id="prj_bench", feature_id="feat_bench", role=AgentRunRole.CODER
        ),
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# --- latency -------------------------------------------------------------------------


async def _viewer(
    client: httpx.AsyncClient,
    path: str,
    sent_at: dict[str, float],
    latencies: dict[str, list[float]],
    connected: asyncio.Event,
    expected: int,
) -> None:
    seen = 0
    async with client.stream("GET", path, headers=AUTH) as response:
        async for line in response.aiter_lines():
            if line.startswith("retry:"):
                connected.set()
            if not line.startswith("data: "):
                continue
            received = time.perf_counter()
            # The content is the last string field before "type"; cheaper than a JSON
            # parse per viewer (with 1,000 viewers the client would be the bottleneck).
            start = line.index('"content":"') + 11
            content = line[start : line.index('"', start)]
            phase = content.split("-", 1)[0]
            if content in sent_at:
                latencies[phase].append(received - sent_at[content])
                seen += 1
            if seen == expected:
                return


async def _latency(
    a_url: str, b_url: str, run: AgentRun, messages: int, viewers: int, pace: float
) -> dict[str, list[float]]:
    sent_at: dict[str, float] = {}
    latencies: dict[str, list[float]] = {"same": [], "cross": [], "post-same": [], "post-cross": []}
    limits = httpx.Limits(max_connections=viewers + 4)
    timeout = httpx.Timeout(30.0)
    async with (
        httpx.AsyncClient(base_url=a_url, limits=limits, timeout=timeout) as a,
        httpx.AsyncClient(base_url=b_url, timeout=timeout) as b,
    ):
        path = f"/api/agent-runs/{run.id}/messages/stream"
        ready = [asyncio.Event() for _ in range(viewers)]
        tasks = [
            asyncio.create_task(_viewer(a, path, sent_at, latencies, ready[i], 2 * messages))
            for i in range(viewers)
        ]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in ready)), CONNECT_TIMEOUT_S)
        for phase, client in (("same", a), ("cross", b)):
            for i in range(messages):
                content = f"{phase}-{i}"
                sent_at[content] = time.perf_counter()
                response = await client.post(
                    f"/api/agent-runs/{run.id}/messages", json={"content": content}, headers=AUTH
                )
                response.raise_for_status()
                latencies[f"post-{phase}"].append(time.perf_counter() - sent_at[content])
                await asyncio.sleep(pace)
        await asyncio.wait_for(asyncio.gather(*tasks), DRAIN_TIMEOUT_S)
    return latencies


def bench_latency(
    engine: LocalEngine,
    db: Db,
    logs: Path,
    *,
    messages: int,
    viewers: int,
    gc_freeze: bool,
    pace: float,
) -> None:
    run = new_run(db)
    env = {"OMAKASE_GC_FREEZE": str(gc_freeze).lower()}
    with (
        api_process("api", engine=engine, log=logs / "latency-a.log", **env) as a_url,
        api_process("api", engine=engine, log=logs / "latency-b.log", **env) as b_url,
    ):
        latencies = asyncio.run(_latency(a_url, b_url, run, messages, viewers, pace))
    print(
        f"\nPOST -> SSE delivery, {viewers} viewers, {messages} messages per phase, "
        f"{pace * 1000:.0f} ms apart, gc.freeze {'on' if gc_freeze else 'off'}"
    )
    print("| path | samples | p50 | p99 | max |")
    print("|---|---|---|---|---|")
    for phase, label in (
        ("same", "same process"),
        ("cross", "across two processes"),
        ("post-same", "(POST round trip alone, A)"),
        ("post-cross", "(POST round trip alone, B)"),
    ):
        values = latencies[phase]
        print(
            f"| {label} | {len(values)} | {statistics.median(values) * 1000:.1f} ms | "
            f"{percentile(values, 0.99) * 1000:.1f} ms | {max(values) * 1000:.1f} ms |"
        )


# --- queries --------------------------------------------------------------------------


async def _hold_streams(
    url: str,
    paths: list[str],
    seconds: float,
    db: Db,
    runs: list[AgentRun],
) -> tuple[dict[str, int], dict[str, int], int, float]:
    """Open every stream, then measure the server's store calls over ``seconds``."""
    events = 0
    connected = 0
    all_connected = asyncio.Event()
    backlog_sent = asyncio.Event()

    async def hold(client: httpx.AsyncClient, path: str) -> None:
        nonlocal events, connected
        async with client.stream("GET", path, headers=AUTH) as response:
            async for line in response.aiter_lines():
                if line.startswith("retry:"):
                    connected += 1
                    if connected == len(paths):
                        all_connected.set()
                elif line.startswith("data: "):
                    events += 1
                    if events == len(paths) * BACKLOG_MESSAGES:
                        backlog_sent.set()

    async def write_elsewhere(stop: asyncio.Event) -> int:
        written = 0
        bus = MessageBus()  # nobody listens: these writes are "another process's"
        while not stop.is_set():
            for run in runs:
                await asyncio.to_thread(
                    post_message, db, bus, run=run, sender=MessageSender.USER, content="tick"
                )
                written += 1
            await asyncio.sleep(1.0 / WRITES_PER_RUN_PER_S)
        return written

    limits = httpx.Limits(max_connections=len(paths) + 8, max_keepalive_connections=8)
    async with httpx.AsyncClient(
        base_url=url, limits=limits, timeout=httpx.Timeout(60.0)
    ) as client:
        started = time.perf_counter()
        tasks = [asyncio.create_task(hold(client, path)) for path in paths]
        await asyncio.wait_for(all_connected.wait(), CONNECT_TIMEOUT_S)
        await asyncio.wait_for(backlog_sent.wait(), CONNECT_TIMEOUT_S)
        connect_s = time.perf_counter() - started
        before = (await client.get("/bench/calls")).json()
        stop = asyncio.Event()
        writer = asyncio.create_task(write_elsewhere(stop))
        await asyncio.sleep(seconds)
        after = (await client.get("/bench/calls")).json()
        stop.set()
        written = await writer
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return before, after, written, connect_s


def bench_queries(
    engine: LocalEngine, db: Db, logs: Path, *, runs: int, viewers_per_run: int, seconds: float
) -> None:
    rows = []
    for mode in ("hub", "per-connection"):
        bench_runs = [new_run(db) for _ in range(runs)]
        for run in bench_runs:
            for i in range(BACKLOG_MESSAGES):
                post_message(db, MessageBus(), run=run, sender=MessageSender.USER, content=f"b{i}")
        template = (
            "/api/agent-runs/{}/messages/stream"
            if mode == "hub"
            else "/bench/per-connection/{}/stream"
        )
        paths = [template.format(run.id) for run in bench_runs for _ in range(viewers_per_run)]
        with api_process("bench.serve", engine=engine, log=logs / f"queries-{mode}.log") as url:
            at_start = httpx.get(f"{url}/bench/calls").json()
            before, after, written, connect_s = asyncio.run(
                _hold_streams(url, paths, seconds, db, bench_runs)
            )
        connect_reads = sum(before.get(op, 0) - at_start.get(op, 0) for op in ("Query", "GetItem"))
        queries = (after.get("Query", 0) - before.get("Query", 0)) / seconds
        gets = (after.get("GetItem", 0) - before.get("GetItem", 0)) / seconds
        rows.append((mode, queries, gets, connect_reads, connect_s, written))
    print(
        f"\nStore reads with {runs * viewers_per_run} streams on {runs} runs, {seconds:.0f} s, "
        f"{WRITES_PER_RUN_PER_S:g} write/s per run from another process"
    )
    print("| design | Query/s | GetItem/s | reads to connect + backlog | connect time |")
    print("|---|---|---|---|---|")
    for mode, queries, gets, connect_reads, connect_s, _ in rows:
        print(f"| {mode} | {queries:.1f} | {gets:.1f} | {connect_reads} | {connect_s:.1f} s |")
    hub, base = rows[0], rows[1]
    print(
        f"ratio per-connection / hub: Query {base[1] / max(hub[1], 1e-9):.0f}x, "
        f"all reads {(base[1] + base[2]) / max(hub[1] + hub[2], 1e-9):.0f}x, "
        f"connect reads {base[3] / max(hub[3], 1):.0f}x"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.chat_sse", description=__doc__.split("\n")[0]
    )
    parser.add_argument("what", nargs="?", choices=("all", "latency", "queries"), default="all")
    parser.add_argument("--messages", type=int, default=LATENCY_MESSAGES)
    parser.add_argument("--viewers", type=int, default=LATENCY_VIEWERS)
    parser.add_argument("--gc-freeze", choices=("on", "off"), default="on")
    parser.add_argument("--pace", type=float, default=LATENCY_PACE_S, help="seconds between POSTs")
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--viewers-per-run", type=int, default=VIEWERS_PER_RUN)
    parser.add_argument("--seconds", type=float, default=MEASURE_SECONDS)
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="omakase-bench-") as tmp,
        LocalEngine(Path(tmp) / "db") as engine,
    ):
        logs = Path(tmp)
        db = tables_on(engine.endpoint, PREFIX)
        if args.what in ("all", "latency"):
            bench_latency(
                engine,
                db,
                logs,
                messages=args.messages,
                viewers=args.viewers,
                gc_freeze=args.gc_freeze == "on",
                pace=args.pace,
            )
        if args.what in ("all", "queries"):
            bench_queries(
                engine,
                db,
                logs,
                runs=args.runs,
                viewers_per_run=args.viewers_per_run,
                seconds=args.seconds,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
