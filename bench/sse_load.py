"""Load: one API process holding thousands of SSE streams, POST→delivery latency, RSS over a soak.

Not a test. Everything runs on 127.0.0.1: a local engine in a temporary
directory and one ``python -m api`` process; this script is the only client:
the streams are raw asyncio connections (no HTTP library per stream) held by
``--holders`` child processes, so reading thousands of streams does not delay
the parent, which POSTs and samples. Arrival times (``time.monotonic``, one
clock for every process on the machine) are joined with POST times at the end.

1. The open-file soft limit is raised to the hard limit (inherited by the API).
2. ``--runs`` runs each get ``WINDOW_FILL`` messages written straight to the
   store, and one warm-up viewer per run reads them: the stream hub's per-run
   windows are then full, so a flat RSS during the soak means "no leak", not
   "a cache still filling up".
3. ``--streams`` viewers connect (spread evenly over the runs) with
   ``Last-Event-ID`` at the run's head; the script checks every one is open.
4. Soak: ``--rate`` messages/s are POSTed round-robin over the runs for
   ``--seconds``; every viewer records when each message arrives. The API's
   RSS (``/proc/<pid>/status``) is sampled every ``--sample-every`` seconds.
5. The runs are completed; every viewer must then receive ``event: close``
   having received every soak message of its run exactly once, in order.

Prints p50/p90/p99/max of POST sent → event received (over every delivery),
the RSS series, and exits 1 if any stream lost, repeated or reordered a message.

Usage (defaults: 2,000 streams, 10 runs, 50 msg/s, 300 s)::

    .venv/bin/python -m bench.sse_load --runs 40    # 50 viewers per run (docs/RELIABILITY.md)
    .venv/bin/python -m bench.sse_load              # 200 viewers per run: past this machine's knee
    .venv/bin/python -m bench.sse_load --streams 500 --seconds 30
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import json
import pickle
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from api.store.codec import to_item
from api.store.db import Db
from api.store.ids import new_id
from api.store.runs import create_run
from core.cursor import format_cursor
from core.models import AgentRun, AgentRunCreate, AgentRunRole, iso, utc_now
from core.tables import AGENT_MESSAGES
from infra.local_engine import LocalEngine
from tests.support.servers import ApiServer
from tests.support.store import tables_on

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "load-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PREFIX = "load-"
HOST = "127.0.0.1"
#: Messages per run before the soak: the hub's window (2,000) plus its slack (500).
WINDOW_FILL = 2_500
BATCH_WRITE_ITEMS = 25
#: Streams opened at once (the listen backlog is finite).
CONNECT_BATCH = 100
CONNECT_TIMEOUT_S = 30.0
#: After the soak: how long every stream may take to deliver the rest and close.
DRAIN_TIMEOUT_S = 60.0
POST_CONCURRENCY = 16


def raise_open_file_limit() -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return soft, hard


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def prefill(db: Db, run: AgentRun, count: int) -> None:
    """Write ``count`` messages at cursors 1..count, exactly as ``create_message`` shapes them."""
    table = db.table(AGENT_MESSAGES)
    items = []
    for n in range(1, count + 1):
        values = {
            "id": new_id("msg"),
            "runId": run.id,
            "featureId": run.feature_id,
            "projectId": run.project_id,
            "sender": "user",
            "role": None,
            "content": f"backlog {n}",
            "type": "message",
            "timestamp": iso(utc_now()),
            "receipt": None,
            "receiptFor": None,
            "cursor": format_cursor(n),
        }
        items.append({"PutRequest": {"Item": to_item(values)}})
    for start in range(0, len(items), BATCH_WRITE_ITEMS):
        request: Any = {table: items[start : start + BATCH_WRITE_ITEMS]}
        while request:
            answer = db.client.batch_write_item(RequestItems=request)
            request = answer.get("UnprocessedItems") or {}


@dataclass
class Stream:
    """One raw SSE connection (HTTP/1.1, chunked) reading cursors of one run."""

    run_index: int
    run_id: str
    after: int
    cursors: array.array[int] = field(default_factory=lambda: array.array("q"))
    arrivals: array.array[float] = field(default_factory=lambda: array.array("d"))
    closed: bool = False
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    error: str | None = None

    async def run(self, port: int) -> None:
        try:
            reader, writer = await asyncio.open_connection(HOST, port, limit=1 << 20)
        except OSError as error:
            self.error = f"connect: {error}"
            self.opened.set()
            return
        try:
            writer.write(
                (
                    f"GET /api/agent-runs/{self.run_id}/messages/stream HTTP/1.1\r\n"
                    f"Host: {HOST}:{port}\r\nAuthorization: Bearer {TOKEN}\r\n"
                    "Accept: text/event-stream\r\n"
                    f"Last-Event-ID: {format_cursor(self.after)}\r\n\r\n"
                ).encode()
            )
            status = await reader.readline()
            if b" 200 " not in status:
                self.error = status.decode(errors="replace").strip()
                return
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass  # headers
            self.opened.set()
            buffer = b""
            while True:
                size_line = await reader.readline()
                if not size_line:
                    return
                size = int(size_line.strip() or b"0", 16)
                if size == 0:
                    return
                buffer += await reader.readexactly(size)
                await reader.readexactly(2)
                buffer = self._consume(buffer)
                if self.closed:
                    return
        except (OSError, asyncio.IncompleteReadError, ValueError) as error:
            self.error = f"{type(error).__name__}: {error}"
        finally:
            self.opened.set()
            writer.close()

    def _consume(self, buffer: bytes) -> bytes:
        now = time.monotonic()
        buffer = buffer.replace(b"\r\n", b"\n")
        *events, rest = buffer.split(b"\n\n")
        for event in events:
            if event.startswith(b"id: "):
                cursor = int(event[4 : event.index(b"\n")])
                self.cursors.append(cursor)
                self.arrivals.append(now)
            elif b"event: close" in event:
                self.closed = True
        return rest


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


@dataclass
class Holder:
    """A child process holding a share of the streams (so their reading is not the poster's)."""

    process: subprocess.Popen[str]
    out_path: Path

    def read_line(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()


def start_holder(port: int, streams: list[tuple[int, str, int]], out_path: Path) -> Holder:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.sse_load", "--holder", str(out_path)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None
    process.stdin.write(json.dumps({"port": port, "streams": streams}) + "\n")
    process.stdin.flush()
    return Holder(process, out_path)


async def hold(out_path: Path) -> None:
    """The child: open the streams it is given, report, read them to close, dump arrivals."""
    config = json.loads(sys.stdin.readline())
    streams = [Stream(i, run_id, after) for i, run_id, after in config["streams"]]
    tasks = []
    for start in range(0, len(streams), CONNECT_BATCH):
        batch = streams[start : start + CONNECT_BATCH]
        tasks += [asyncio.create_task(s.run(config["port"])) for s in batch]
        await asyncio.wait_for(asyncio.gather(*(s.opened.wait() for s in batch)), CONNECT_TIMEOUT_S)
    print(f"open {sum(1 for s in streams if s.error is None)}", flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # the parent says: the runs are completed
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*tasks), DRAIN_TIMEOUT_S)
    records = [(s.run_index, s.error, s.closed, s.cursors, s.arrivals) for s in streams]
    await asyncio.to_thread(out_path.write_bytes, pickle.dumps(records))
    print("done", flush=True)


async def soak(
    args: argparse.Namespace, api: ApiServer, runs: list[AgentRun], tmp: Path
) -> tuple[list[Any], dict[tuple[int, int], float], list[tuple[float, int, int]], dict[str, float]]:
    assert api.process is not None
    pid = api.process.pid
    figures: dict[str, float] = {"rss_before_streams_kb": rss_kb(pid)}

    # Warm-up: one viewer per run reads the backlog, so every feed's window is full.
    warm = [Stream(i, run.id, 0) for i, run in enumerate(runs)]
    warm_tasks = [asyncio.create_task(s.run(api.port)) for s in warm]
    deadline = time.monotonic() + CONNECT_TIMEOUT_S * 4
    # A bounded poll of plain counters (the raw readers have no events to wait on).
    while any(len(s.cursors) < WINDOW_FILL for s in warm) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    figures["warmup_complete"] = float(all(len(s.cursors) >= WINDOW_FILL for s in warm))

    specs = [(i % len(runs), runs[i % len(runs)].id, WINDOW_FILL) for i in range(args.streams)]
    started = time.monotonic()
    holders = [
        start_holder(api.port, specs[h :: args.holders], tmp / f"holder-{h}.pickle")
        for h in range(args.holders)
    ]
    opened = [await asyncio.to_thread(h.read_line) for h in holders]
    figures["connect_s"] = time.monotonic() - started
    figures["streams_open"] = sum(
        int(line.split()[1]) for line in opened if line.startswith("open")
    )
    figures["rss_streams_open_kb"] = rss_kb(pid)

    samples: list[tuple[float, int, int]] = []
    posted_at: dict[tuple[int, int], float] = {}
    soak_started = time.monotonic()
    next_sample = soak_started
    sent = 0
    acknowledged = 0
    semaphore = asyncio.Semaphore(POST_CONCURRENCY)
    pending: set[asyncio.Task[None]] = set()
    async with httpx.AsyncClient(base_url=api.url, headers=AUTH, timeout=30.0) as http:

        async def post(n: int) -> None:
            nonlocal acknowledged
            index = n % len(runs)
            async with semaphore:
                sent_at = time.monotonic()
                response = await http.post(
                    f"/api/agent-runs/{runs[index].id}/messages", json={"content": f"soak {n}"}
                )
            response.raise_for_status()
            posted_at[(index, int(response.json()["cursor"]))] = sent_at
            acknowledged += 1

        while (now := time.monotonic()) < soak_started + args.seconds:
            if now >= next_sample:
                samples.append((now - soak_started, rss_kb(pid), acknowledged))
                next_sample += args.sample_every
            due = int((now - soak_started) * args.rate) + 1
            while sent < due:
                task = asyncio.create_task(post(sent))
                pending.add(task)
                task.add_done_callback(pending.discard)
                sent += 1
            await asyncio.sleep(1.0 / args.rate / 2)
        await asyncio.gather(*pending)
        samples.append((time.monotonic() - soak_started, rss_kb(pid), acknowledged))
        figures["sent"] = sent
        figures["soak_s"] = time.monotonic() - soak_started
        for run in runs:
            (
                await http.patch(f"/api/agent-runs/{run.id}", json={"status": "completed"})
            ).raise_for_status()
    for holder in holders:
        assert holder.process.stdin is not None
        holder.process.stdin.write("completed\n")
        holder.process.stdin.flush()
    for holder in holders:
        await asyncio.to_thread(holder.read_line)
        await asyncio.to_thread(holder.process.wait)
    await asyncio.gather(*warm_tasks)
    records: list[Any] = []
    for holder in holders:
        records += pickle.loads(holder.out_path.read_bytes())  # noqa: S301 - our own child's file
    return records, posted_at, samples, figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--rate", type=float, default=50.0, help="messages per second")
    parser.add_argument("--seconds", type=float, default=300.0, help="soak duration")
    parser.add_argument("--sample-every", type=float, default=15.0, help="RSS sample period (s)")
    parser.add_argument("--holders", type=int, default=2, help="client processes for the streams")
    parser.add_argument("--holder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.holder is not None:
        asyncio.run(hold(args.holder))
        return 0
    soft, hard = raise_open_file_limit()
    print(f"open-file limit: soft {soft} -> {hard} (hard {hard})")
    with tempfile.TemporaryDirectory() as tmp, LocalEngine(Path(tmp) / "dynamodb") as engine:
        db = tables_on(engine.endpoint, PREFIX)
        runs = [
            create_run(
                db,
                data=AgentRunCreate(
                    project_id="prj_load", feature_id=f"feat_load{i}", role=AgentRunRole.CODER
                ),
            )
            for i in range(args.runs)
        ]
        for run in runs:
            prefill(db, run, WINDOW_FILL)
        api = ApiServer(
            endpoint=engine.endpoint,
            prefix=PREFIX,
            token=TOKEN,
            log_path=Path(tmp) / "api.log",
            env={"OMAKASE_AUTO_START_FEATURES": "false"},
        )
        try:
            api.start()
            records, posted_at, samples, figures = asyncio.run(soak(args, api, runs, Path(tmp)))
        finally:
            api.stop()
    # Every stream: the soak messages of its run (cursors after the backlog), once, in order,
    # then the completion notice, then close.
    per_run_sent: defaultdict[int, int] = defaultdict(int)
    for index, _ in posted_at:
        per_run_sent[index] += 1
    bad = 0
    latencies_array = array.array("d")
    for run_index, error, closed, cursors, arrivals in records:
        expected = list(range(WINDOW_FILL + 1, WINDOW_FILL + per_run_sent[run_index] + 2))
        if error or not closed or list(cursors) != expected:
            bad += 1
        for cursor, at in zip(cursors, arrivals, strict=True):
            posted = posted_at.get((run_index, cursor))
            if posted is not None:
                latencies_array.append(at - posted)
    latencies = sorted(latencies_array)
    print(json.dumps({k: round(v, 3) for k, v in figures.items()}))
    print(
        f"streams: {args.streams:,} on {args.runs} runs in {args.holders} client processes "
        f"(+{args.runs} warm-up streams), all open: {figures['streams_open']:.0f}/{args.streams}, "
        f"connect {figures['connect_s']:.1f} s"
    )
    print(
        f"soak: {figures['sent']:.0f} messages in {figures['soak_s']:.0f} s "
        f"({figures['sent'] / figures['soak_s']:.1f}/s), deliveries measured: {len(latencies):,}"
    )
    if latencies:
        print(
            "POST sent -> event received: "
            f"p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
            f"p90 {percentile(latencies, 0.9) * 1000:.0f} ms, "
            f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms, "
            f"max {latencies[-1] * 1000:.0f} ms, mean {statistics.fmean(latencies) * 1000:.0f} ms"
        )
    print("RSS of the API process over the soak:")
    print("| t (s) | RSS (MB) | messages acknowledged |")
    print("|---:|---:|---:|")
    for at, kb, count in samples:
        print(f"| {at:.0f} | {kb / 1024:.1f} | {count:,} |")
    print(f"streams that lost, repeated or reordered a message, or did not close: {bad}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
