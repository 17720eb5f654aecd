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
from api.agents.mcp_server import ASK_POLL_S
from api.auth import derive_agent_secret, mint_agent_token
from bench.chat_sse import AUTH, PREFIX, TOKEN, api_process, new_run, percentile
from infra.local_engine import LocalEngine
from tests.support.store import tables_on

SAMPLES = 60
#: How often the "person" looks whether the question is open (not part of the figure).
PERSON_POLL_S = 0.02
SAMPLE_TIMEOUT_S = 30.0


async def _answer_when_waiting(http: httpx.AsyncClient, run_id: str, marks: list[float]) -> None:
    while True:
        run = (await http.get(f"/api/agent-runs/{run_id}")).json()
        if run["status"] == "waiting" and run.get("openQuestionId"):
            break
        await anyio.sleep(PERSON_POLL_S)
    marks.append(time.perf_counter())
    response = await http.post(f"/api/agent-runs/{run_id}/messages", json={"content": "yes"})
    response.raise_for_status()


async def measure(url: str, run_id: str, samples: int) -> list[float]:
    env = {
        "OMAKASE_API_URL": url,
        "OMAKASE_RUN_ID": run_id,
        "OMAKASE_AGENT_TOKEN": mint_agent_token(derive_agent_secret(TOKEN), run_id),
        "OMAKASE_ASK_TIMEOUT_SECONDS": "60",
    }
    entry = mcp_config(python=sys.executable, env=env)["mcpServers"]["omakase"]
    params = StdioServerParameters(command=entry["command"], args=entry["args"], env=entry["env"])
    latencies: list[float] = []
    async with (
        httpx.AsyncClient(base_url=url, headers=AUTH, timeout=10.0) as http,
        stdio_client(params) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        for number in range(samples):
            marks: list[float] = []
            with anyio.fail_after(SAMPLE_TIMEOUT_S):
                async with anyio.create_task_group() as group:
                    group.start_soon(_answer_when_waiting, http, run_id, marks)
                    result = await session.call_tool("ask_human", {"question": f"Q{number}?"})
            done = time.perf_counter()
            if result.is_error:
                raise RuntimeError(f"ask_human failed: {result.content}")
            latencies.append(done - marks[0])
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=SAMPLES)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, LocalEngine(Path(folder)) as engine:
        db = tables_on(engine.endpoint, PREFIX)
        run = new_run(db)
        with api_process("api", engine=engine, log=Path(folder) / "api.log") as url:
            latencies = anyio.run(measure, url, run.id, args.samples)
    ms = [1000 * value for value in latencies]
    print(f"ask_human: answer POST → tool result, {len(ms)} samples, poll {ASK_POLL_S} s")
    print(
        f"p50 {statistics.median(ms):.0f} ms · p90 {percentile(ms, 0.90):.0f} ms · "
        f"p99 {percentile(ms, 0.99):.0f} ms · min {min(ms):.0f} ms · max {max(ms):.0f} ms"
    )


if __name__ == "__main__":
    main()
