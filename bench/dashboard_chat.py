"""Benchmark: the chat sidebar's rerun time with a 5,000-message feature conversation.

    python -m bench.dashboard_chat [--messages 5000] [--reruns 30]

The sidebar (``pages.lib.chat.render_chat_sidebar``) runs in Streamlit's AppTest
against an in-memory API (tests/support/fake_api.py): one feature whose four
steps (architect, coder, reviewer, tester — the tester live and running) share
``--messages`` messages, with step dividers, receipts of every channel, a few
messages still waiting for delivery (Withdraw / Edit on their bubbles), receipt
notices folded into their bubbles, and agent messages in Markdown (bold, code,
a list, a link, a fenced block: each rendered by pages/lib/markdown.py). Its
``FakeFeatureChat`` feeds the same
``core.chat_state.Conversation`` the real SSE client keeps, so each rerun does
what a live tick does — take the snapshot, move read markers, render the
window — minus the network. AppTest times the whole script run (header,
fragment, input), an upper bound for the fragment alone. Also timed: the real
client's per-change work (a snapshot of the whole conversation). Target: a
rerun ≤ 300 ms p95.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from streamlit.testing.v1 import AppTest

from core.agents import PIPELINE_ROLES
from core.chat_state import Conversation
from core.chat_wire import ChatSnapshot
from core.models import (
    AgentRunStatus,
    DeliveryChannel,
    DeliveryReceipt,
    MessageSender,
    MessageType,
    ReceiptState,
)
from pages.lib.api import CLIENT_KEY
from pages.lib.chat_session import ACTIVE_KEY
from tests.support.fake_api import FakeApi

TARGET_MS = 300.0
TIMEOUT_S = 120.0
#: User messages near the end still waiting for delivery (the pending list).
WAITING_AT_END = 3
CHANNELS = [c.value for c in DeliveryChannel]


def chat_script() -> None:
    from pages.lib.chat import render_chat_sidebar

    render_chat_sidebar()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def seed(api: FakeApi, total: int) -> None:
    per_step = total // len(PIPELINE_ROLES)
    for step, role in enumerate(PIPELINE_ROLES, start=1):
        last = step == len(PIPELINE_ROLES)
        status = AgentRunStatus.TESTING if last else AgentRunStatus.COMPLETED
        run = api.add_run(role, status, step=step, live=last)
        count = total - per_step * (len(PIPELINE_ROLES) - 1) if last else per_step
        for n in range(count):
            if n % 50 == 0:
                api.add_message(run.id, f"Started phase {n}", type=MessageType.STATUS)
            elif n % 3 == 0:
                waiting = waiting_zone(last, n, count)
                receipt = (
                    DeliveryReceipt(state=ReceiptState.QUEUED)
                    if waiting
                    else DeliveryReceipt(
                        state=ReceiptState.DELIVERED,
                        step=step,
                        role=role,
                        channel=CHANNELS[n % len(CHANNELS)],
                    )
                )
                api.add_message(
                    run.id,
                    f"User message {n} " + "please " * 10,
                    sender=MessageSender.USER,
                    receipt=receipt,
                )
            elif n % 3 == 2 and not waiting_zone(last, n, count):
                api.add_message(
                    run.id,
                    f"📬 Delivered to step {step}",
                    type=MessageType.STATUS,
                    receipt=DeliveryReceipt(state=ReceiptState.DELIVERED, step=step, role=role),
                    receipt_for=f"msg_{run.id}_{n}",
                )
            else:
                api.add_message(run.id, markdown(n))


def waiting_zone(last: bool, n: int, count: int) -> bool:
    return last and n >= count - 3 * WAITING_AT_END


def markdown(n: int) -> str:
    """An agent's answer in Markdown, different for every message (no render is reused)."""
    return (
        f"Agent message {n}: verdict **APPROVE** with `code {n}` <b>escaped</b>\n\n"
        f"- working on [step {n}](https://example.com/{n})\n- then tests\n\n"
        f"```python\nprint({n}, 'working ' * 12)\n```"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--reruns", type=int, default=30)
    args = parser.parse_args()

    api = FakeApi()
    seed(api, args.messages)
    live = list(api.runs)[-1]

    at = AppTest.from_function(chat_script, default_timeout=TIMEOUT_S)
    at.session_state[CLIENT_KEY] = api
    at.session_state[ACTIVE_KEY] = api.feature.id
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
        api.add_message(live, markdown(100_000 + n))
        started = time.perf_counter()
        at.run()
        busy.append((time.perf_counter() - started) * 1000)

    state = Conversation()
    for message in api.feed:
        state.apply(message)
    snapshots: list[float] = []
    for _ in range(args.reruns):
        state.version += 1
        started = time.perf_counter()
        ChatSnapshot.of(state, connected=True)
        snapshots.append((time.perf_counter() - started) * 1000)

    total = len(api.feed)
    rendered = sum(str(e.proto.body).count("data-id=") for e in at.get("html"))
    print(f"conversation: {total:,} messages over {len(api.runs)} steps ({rendered} rendered)")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"open the chat (load + render):     {first_ms:7.1f} ms")
    for label, values in (("rerun, nothing new", idle), ("rerun, one new message", busy)):
        p50, p95 = statistics.median(values), percentile(values, 0.95)
        verdict = "OK" if p95 <= TARGET_MS else "OVER TARGET"
        print(
            f"{label:<33} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  "
            f"[{verdict}, target ≤ {TARGET_MS:.0f} ms]"
        )
    print(
        f"client: snapshot of {total:,} messages after a change: "
        f"p50 {statistics.median(snapshots):.1f} ms"
    )


if __name__ == "__main__":
    main()
