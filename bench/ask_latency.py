"""Benchmark of ``ask_human``: from the person's answer to the tool's result in the agent.

Not a test (nothing here asserts a speed). Everything on 127.0.0.1: a local
engine (dynalite) in a temporary directory, one API process (``python -m api``),
and the ``omakase`` MCP server started as an agent CLI starts it (the stdio
config of ``mcp_config``), driven by the ``mcp`` SDK's own stdio client.

Per sample: the agent calls ``ask_human``; the "person" waits until the run is
``waiting`` (polling the API), then POSTs the answer. Latency = from just before
that POST is sent to the moment the tool call returns in the client, i.e. what
the model waits after the person pressed Enter. It includes the server's poll
period (``ASK_POLL_S``), the answered-route's writes, and the stdio hop.

Usage (about a minute for 60 samples)::

    .venv/bin/python -m bench.ask_latency --samples 60
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
import httpx
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from api.agents.mcp_config import mcp_config
from api.agents.mcp_server import WAIT_HOLD_S
from api.auth import derive_agent_secret, mint_agent_token
from bench.chat_sse import AUTH, PREFIX, TOKEN, api_process, new_run, percentile
from infra.local_engine import LocalEngine
from tests.support.store import tables_on

SAMPLES = 60
#: How often the "person" looks whether the question is open (not part of the figure).
PERSON_POLL_S = 0.02
SAMPLE_TIMEOUT_S = 30.0
#: The replaced server's poll period and run check (emulated over HTTP, same calls).
OLD_POLL_S = 0.5
OLD_RUN_CHECK_EVERY = 4


async def _answer_when_waiting(
    http: httpx.AsyncClient,
    answer_to: httpx.AsyncClient,
    run_id: str,
    marks: list[float],
    asked: set[str],
) -> None:
    """The person: once a NEW question is open (the previous close may be on its way)."""
    while True:
        run = (await http.get(f"/api/agent-runs/{run_id}")).json()
        question = run.get("openQuestionId")
        if run["status"] == "waiting" and question and question not in asked:
            asked.add(question)
            break
        await anyio.sleep(PERSON_POLL_S)
    # A person answers at any moment, not in step with a poll: a uniform pause.
    await anyio.sleep(random.uniform(0.0, OLD_POLL_S))
    marks.append(time.perf_counter())
    response = await answer_to.post(f"/api/agent-runs/{run_id}/messages", json={"content": "yes"})
    response.raise_for_status()


def _server_params(url: str, run_id: str) -> StdioServerParameters:
    env = {
        "OMAKASE_API_URL": url,
        "OMAKASE_RUN_ID": run_id,
        "OMAKASE_AGENT_TOKEN": mint_agent_token(derive_agent_secret(TOKEN), run_id),
        "OMAKASE_ASK_TIMEOUT_SECONDS": "60",
    }
    entry = mcp_config(python=sys.executable, env=env)["mcpServers"]["omakase"]
    return StdioServerParameters(command=entry["command"], args=entry["args"], env=entry["env"])


async def measure_push(url: str, answer_url: str, run_id: str, samples: int) -> list[float]:
    """The real server (stdio, as a CLI starts it); the answer POSTed to ``answer_url``."""
    latencies: list[float] = []
    asked: set[str] = set()
    async with (
        httpx.AsyncClient(base_url=url, headers=AUTH, timeout=10.0) as http,
        httpx.AsyncClient(base_url=answer_url, headers=AUTH, timeout=10.0) as answer_to,
        stdio_client(_server_params(url, run_id)) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        for number in range(samples):
            marks: list[float] = []
            with anyio.fail_after(SAMPLE_TIMEOUT_S):
                async with anyio.create_task_group() as group:
                    group.start_soon(_answer_when_waiting, http, answer_to, run_id, marks, asked)
                    result = await session.call_tool("ask_human", {"question": f"Q{number}?"})
            done = time.perf_counter()
            if result.is_error:
                raise RuntimeError(f"ask_human failed: {result.content}")
            latencies.append(done - marks[0])
    return latencies


async def _old_ask(agent: httpx.AsyncClient, run_id: str, number: int) -> float:
    """The replaced server's wait, call for call: ask, poll the thread every 0.5 s (and the
    run every 4th poll), then close with ``answered`` BEFORE returning. Returns when done."""
    path = f"/api/agent-runs/{run_id}"
    body = {"question": f"Old Q{number}?", "id": f"q-old-{number}-{time.time_ns()}"}
    asked = (await agent.post(f"{path}/questions", json=body)).json()
    params = {"since": asked["cursor"], "sender": "user", "limit": 1}
    tick = 0
    while True:
        started = time.perf_counter()
        found = (await agent.get(f"{path}/messages", params=params)).json()
        if found:
            break
        if tick % OLD_RUN_CHECK_EVERY == 0:
            (await agent.get(path)).raise_for_status()
        tick += 1
        await anyio.sleep(max(0.0, OLD_POLL_S - (time.perf_counter() - started)))
    closed = await agent.post(
        f"{path}/questions/{asked['id']}/answered", json={"messageId": found[0]["id"]}
    )
    closed.raise_for_status()
    return time.perf_counter()


async def measure_old_poll(url: str, run_id: str, samples: int) -> list[float]:
    token = mint_agent_token(derive_agent_secret(TOKEN), run_id)
    latencies: list[float] = []
    asked: set[str] = set()
    async with (
        httpx.AsyncClient(base_url=url, headers=AUTH, timeout=10.0) as http,
        httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10.0
        ) as agent,
    ):
        for number in range(samples):
            marks: list[float] = []
            done: list[float] = []

            async def ask(n: int = number, out: list[float] = done) -> None:
                out.append(await _old_ask(agent, run_id, n))

            with anyio.fail_after(SAMPLE_TIMEOUT_S):
                async with anyio.create_task_group() as group:
                    group.start_soon(_answer_when_waiting, http, http, run_id, marks, asked)
                    group.start_soon(ask)
            latencies.append(done[0] - marks[0])
    return latencies


def _line(name: str, values: list[float]) -> str:
    ms = [1000 * value for value in values]
    return (
        f"{name:58} {len(ms):4d}  p50 {statistics.median(ms):6.0f}  "
        f"p90 {percentile(ms, 0.90):6.0f}  p99 {percentile(ms, 0.99):6.0f}  "
        f"min {min(ms):5.0f}  max {max(ms):6.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=SAMPLES)
    parser.add_argument("--old-samples", type=int, default=None, help="default: --samples")
    parser.add_argument("--other-samples", type=int, default=None, help="default: --samples / 2")
    args = parser.parse_args()
    figures: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as folder, LocalEngine(Path(folder)) as engine:
        db = tables_on(engine.endpoint, PREFIX)
        runs = [new_run(db) for _ in range(3)]
        with (
            api_process("api", engine=engine, log=Path(folder) / "a.log") as url,
            api_process("api", engine=engine, log=Path(folder) / "b.log") as other,
        ):
            old = args.old_samples if args.old_samples is not None else args.samples
            figures["replaced: 0.5 s poll, close before the return"] = anyio.run(
                measure_old_poll, url, runs[0].id, old
            )
            figures["push: answer POSTed to the same API process"] = anyio.run(
                measure_push, url, url, runs[1].id, args.samples
            )
            others = args.other_samples or max(1, args.samples // 2)
            figures["push: answer POSTed to another API process"] = anyio.run(
                measure_push, url, other, runs[2].id, others
            )
    print(f"ask_human: answer POST → tool result (held waits of {WAIT_HOLD_S:g} s)")
    for name, values in figures.items():
        print(_line(name, values))


if __name__ == "__main__":
    main()
