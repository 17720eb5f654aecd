"""Benchmark: export 100,000 messages to a DataFrame and to CSV / Parquet / JSON.

    python -m bench.dashboard_export [--messages 100000] [--runs 20] [--page-size 1000]

What is measured is the client side of ``core.export.export_messages``: HTTP
responses through httpx, pydantic parsing of every page, the DataFrame, and
each file format. The API is replaced by ``httpx.MockTransport`` answering
pre-encoded pages (so the number does not include DynamoDB reads, which the
chat API's own benchmarks cover). Target: the export of 100,000 messages
≤ 3 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import httpx

from core.client import ApiClient
from core.cursor import format_cursor
from core.export import FORMATS, export_messages, rows_to_frame, to_bytes

PROJECT = "prj_bench"
FEATURE = "ftr_bench"
ROLES = ("architect", "coder", "reviewer", "tester")
TARGET_S = 3.0
REPEATS = 3


def build_api(
    messages: int, runs: int, page_size: int
) -> Callable[[httpx.Request], httpx.Response]:
    per_run = messages // runs
    run_ids = [f"run_{n:04d}" for n in range(runs)]
    run_rows = [
        {
            "id": run_id,
            "projectId": PROJECT,
            "featureId": FEATURE,
            "role": ROLES[n % 4],
            "status": "completed",
            "step": n % 4 + 1,
            "startedAt": f"2026-11-24T00:{n // 60:02d}:{n % 60:02d}.000000Z",
            "updatedAt": "2026-11-24T01:00:00.000000Z",
        }
        for n, run_id in enumerate(run_ids)
    ]
    pages: dict[tuple[str, str], tuple[bytes, str | None]] = {}
    for n, run_id in enumerate(run_ids):
        thread: list[dict[str, Any]] = []
        for i in range(1, per_run + 1):
            user = i % 3 == 0
            second = n * per_run + i
            thread.append(
                {
                    "id": f"msg_{run_id}_{i}",
                    "runId": run_id,
                    "featureId": FEATURE,
                    "projectId": PROJECT,
                    "sender": "user" if user else "agent",
                    "role": None if user else ROLES[n % 4],
                    "content": f"message {i} of {run_id}: " + "lorem ipsum " * 8,
                    "type": "status" if i % 10 == 0 else "message",
                    "timestamp": (
                        f"2026-11-24T{second // 3600 % 24:02d}:{second // 60 % 60:02d}:"
                        f"{second % 60:02d}.{i % 1_000_000:06d}Z"
                    ),
                    "cursor": format_cursor(i),
                    "receipt": {"state": "delivered", "step": 2, "runId": run_id} if user else None,
                }
            )
        after = format_cursor(0)
        for start in range(0, len(thread), page_size):
            page = thread[start : start + page_size]
            last = start + page_size >= len(thread)
            # Like the API: a page that is not the last links to the next one.
            following = None if last else page[-1]["cursor"]
            pages[(run_id, after)] = (json.dumps(page).encode(), following)
            after = page[-1]["cursor"]
    runs_body = json.dumps(run_rows).encode()
    features_body = json.dumps(
        [
            {
                "id": FEATURE,
                "projectId": PROJECT,
                "name": "Bench feature",
                "createdAt": "2026-11-24T00:00:00.000000Z",
                "updatedAt": "2026-11-24T00:00:00.000000Z",
            }
        ]
    ).encode()

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/agent-runs"):
            return httpx.Response(200, content=runs_body)
        if path.endswith("/features"):
            return httpx.Response(200, content=features_body)
        run_id = path.split("/")[3]
        since = request.url.params.get("since") or format_cursor(0)
        body, following = pages.get((run_id, since), (b"[]", None))
        if following is None:
            return httpx.Response(200, content=body)
        link = request.url.copy_set_param("since", following)
        headers = {"X-Next-Cursor": following, "Link": f'<{link}>; rel="next"'}
        return httpx.Response(200, content=body, headers=headers)

    return handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--page-size", type=int, default=1_000)
    args = parser.parse_args()
    handler = build_api(args.messages, args.runs, args.page_size)
    http = httpx.Client(base_url="http://bench", transport=httpx.MockTransport(handler))
    client = ApiClient("http://bench", "bench", http=http)

    fetch_times: list[float] = []
    build_times: list[float] = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        runs = {r.id: r for r in client.list_runs(PROJECT)}
        rows = [
            row
            for run_id in runs
            for page in client.iter_message_rows(run_id, page_size=args.page_size)
            for row in page
        ]
        fetch_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        rows_to_frame(rows, runs, {FEATURE: "Bench feature"})
        build_times.append(time.perf_counter() - started)

    frame_times: list[float] = []
    format_times: dict[str, list[float]] = {fmt: [] for fmt in FORMATS}
    sizes: dict[str, int] = {}
    exported = 0
    for _ in range(REPEATS):
        started = time.perf_counter()
        frame = export_messages(client, project_id=PROJECT, page_size=args.page_size)
        frame_times.append(time.perf_counter() - started)
        exported = len(frame)
        for fmt in FORMATS:
            started = time.perf_counter()
            sizes[fmt] = len(to_bytes(frame, fmt))
            format_times[fmt].append(time.perf_counter() - started)

    frame_s = statistics.median(frame_times)
    load = os.getloadavg()[0]
    print(f"messages exported: {exported:,} ({args.runs} runs, pages of {args.page_size})")
    print(f"machine: {os.cpu_count()} CPUs, load average {load:.1f} while measuring")
    print(f"  HTTP + JSON decode of the pages: {statistics.median(fetch_times):.2f} s")
    print(f"  Arrow/pandas frame from the rows: {statistics.median(build_times):.2f} s")
    print(f"API → DataFrame (export_messages): {frame_s:.2f} s (median of {REPEATS})")
    for fmt in FORMATS:
        fmt_s = statistics.median(format_times[fmt])
        total = frame_s + fmt_s
        verdict = "OK" if total <= TARGET_S else "OVER TARGET"
        print(
            f"  + {fmt:<8} {fmt_s:.2f} s → total {total:.2f} s, "
            f"{sizes[fmt] / 1e6:.1f} MB  [{verdict}, target ≤ {TARGET_S:.0f} s]"
        )


if __name__ == "__main__":
    main()
