"""Benchmark: the chat sidebar's rerun time with a 5,000-message thread.

    python -m bench.dashboard_chat [--messages 5000] [--reruns 30]

The chat (``pages.lib.chat.render_chat_sidebar``) runs in Streamlit's AppTest
against an in-memory API (tests/pages/fake_api.py) in ``poll`` mode, so each
rerun does exactly what a live tick does — ask for messages after the cursor,
merge, move the read marker, render the window — minus the network. AppTest
times the whole script run (the sidebar header as well as the fragment), so the
numbers are an upper bound for the fragment alone. Also timed: the stream
mode's per-change work (copying a 5,000-message snapshot into the thread
state). Target: a rerun ≤ 300 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from streamlit.testing.v1 import AppTest

from core.models import MessageSender, MessageType
from pages.lib.api import CLIENT_KEY
from pages.lib.chat import ACTIVE_KEY, CHAT_MODE_ENV, POLL_MODE
from pages.lib.thread import ThreadState
from tests.pages.fake_api import FakeApi

TARGET_MS = 300.0
TIMEOUT_S = 120.0


def chat_script() -> None:
    from pages.lib.chat import render_chat_sidebar

    render_chat_sidebar()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--reruns", type=int, default=30)
    args = parser.parse_args()
    os.environ[CHAT_MODE_ENV] = POLL_MODE

    api = FakeApi()
    run = api.add_run()
    for n in range(args.messages):
        if n % 50 == 0:
            api.add_message(run.id, f"Started phase {n}", type=MessageType.STATUS)
        elif n % 3 == 0:
            api.add_message(
                run.id, f"User message {n} " + "please " * 10, sender=MessageSender.USER
            )
        else:
            api.add_message(run.id, f"Agent message {n} <b>escaped</b> " + "working " * 12)

    at = AppTest.from_function(chat_script, default_timeout=TIMEOUT_S)
    at.session_state[CLIENT_KEY] = api
    at.session_state[ACTIVE_KEY] = run.id
    started = time.perf_counter()
    at.run()
    first_ms = (time.perf_counter() - started) * 1000
    assert not at.exception, at.exception

    idle: list[float] = []
    for _ in range(args.reruns):
        started = time.perf_counter()
        at.run()
        idle.append((time.perf_counter() - started) * 1000)

    busy: list[float] = []
    for n in range(args.reruns):
        api.add_message(run.id, f"Live message {n}")
        started = time.perf_counter()
        at.run()
        busy.append((time.perf_counter() - started) * 1000)

    snapshot = list(api.messages[run.id])
    copies: list[float] = []
    for _ in range(args.reruns):
        state = ThreadState(run_id=run.id)
        started = time.perf_counter()
        state.replace(snapshot, [])
        copies.append((time.perf_counter() - started) * 1000)

    total = len(api.messages[run.id])
    print(f"thread: {total:,} messages (window {len(at.get('html')) - 1} rendered)")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"open the chat (load + render):     {first_ms:7.1f} ms")
    for label, values in (("rerun, nothing new", idle), ("rerun, one new message", busy)):
        p50, p95 = statistics.median(values), percentile(values, 0.95)
        verdict = "OK" if p95 <= TARGET_MS else "OVER TARGET"
        print(
            f"{label:<33} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  "
            f"[{verdict}, target ≤ {TARGET_MS:.0f} ms]"
        )
    print(f"stream mode: copy a {total:,}-message snapshot: p50 {statistics.median(copies):.1f} ms")


if __name__ == "__main__":
    main()
