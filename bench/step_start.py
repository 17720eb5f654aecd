"""Where a claude step's start goes: the CLI, our MCP server, the prompt — each part alone.

Not a test. Alternating variants per repetition, so all see the same load:

* ``python`` alone (``-c pass``) and the ``omakase`` MCP server started as the CLI
  starts it (``mcp_config``) until it answers ``initialize`` (the MCP SDK's stdio
  client; no API call is made at start, so a dummy API address is enough);
* the pinned CLI (scripted model, temporary home): spawn → first model request,
  **without** an MCP server, and **with** ours (``MCP_CONNECTION_NONBLOCKING=0``,
  as the runner starts it: the first request waits for the server's tools).

The difference of the last two is what the MCP server costs the first request;
the sandbox's share is ``bench/sandbox_start.py``'s (bwrap: ~15 ms).

Usage::

    .venv/bin/python -m bench.step_start --reps 5        # ~1 min
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from api.agents.mcp_config import ALLOWED_MCP_TOOLS, mcp_config
from tests.support.claude_session import ClaudeSession, claude_env, user_line
from tests.support.fake_model import FakeModel

WAIT_S = 60.0
DUMMY_ENV = {
    "OMAKASE_API_URL": "http://127.0.0.1:9",
    "OMAKASE_RUN_ID": "run_bench",
    "OMAKASE_AGENT_TOKEN": "bench",
}


def python_alone() -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.monotonic() - started


def _server_config(checkout: Path | None) -> dict[str, Any]:
    """Our server's config; from ``checkout`` (the replaced code) when given."""
    config = mcp_config(python=sys.executable, env=DUMMY_ENV)
    if checkout is not None:
        config["mcpServers"]["omakase"]["env"]["PYTHONPATH"] = str(checkout)
    return config


async def _initialize(checkout: Path | None) -> float:
    entry = _server_config(checkout)["mcpServers"]["omakase"]
    # Started elsewhere than this checkout (as the CLI starts it, from the workspace):
    # ``-m`` resolves from the cwd first, which would pick this checkout's server.
    params = StdioServerParameters(
        command=entry["command"], args=entry["args"], env=entry["env"], cwd=tempfile.gettempdir()
    )
    started = time.monotonic()
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        ready = time.monotonic() - started
        await session.list_tools()
    return ready


def mcp_server_ready(checkout: Path | None) -> float:
    return anyio.run(_initialize, checkout)


def cli_first_request(
    root: Path, rep: int, *, with_mcp: bool, checkout: Path | None = None
) -> float:
    name = f"{'mcp' if with_mcp else 'plain'}{'-before' if checkout else ''}{rep}"
    work = root / f"work-{name}"
    work.mkdir()
    with FakeModel() as model:
        extra: list[str] = []
        if with_mcp:
            config = json.dumps(_server_config(checkout))
            # The runner's flags (``claude_argv``): our server only, its tools allowed.
            extra = ["--mcp-config", config, "--strict-mcp-config"]
            extra += ["--allowedTools", *ALLOWED_MCP_TOOLS]
        started = time.monotonic()
        with ClaudeSession(
            env=claude_env(model, root / f"home-{name}"), cwd=work, extra_args=extra
        ) as session:
            session.send(user_line("Hello"))
            first = model.wait_for_request(lambda r: r.is_agent_call, WAIT_S)
            if with_mcp and not any("omakase" in name for name in first.tool_names):
                raise SystemExit("the first request lacks the omakase tools")
            session.close()
    return first.at - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--before", type=Path, default=None, help="a checkout of the old server")
    args = parser.parse_args()
    figures: dict[str, list[float]] = {
        "python -c pass": [],
        "omakase MCP server: spawn → initialize answered": [],
        "CLI without MCP: spawn → first model request": [],
        "CLI with the omakase server: spawn → first model request": [],
    }
    if args.before is not None:
        figures["before: MCP server: spawn → initialize answered"] = []
        figures["before: CLI with that server: spawn → first model request"] = []
    names = list(figures)
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.reps):
            figures[names[0]].append(python_alone())
            figures[names[1]].append(mcp_server_ready(None))
            figures[names[2]].append(cli_first_request(Path(tmp), rep, with_mcp=False))
            figures[names[3]].append(cli_first_request(Path(tmp), rep, with_mcp=True))
            if args.before is not None:
                before = args.before.resolve()
                figures[names[4]].append(mcp_server_ready(before))
                figures[names[5]].append(
                    cli_first_request(Path(tmp), rep, with_mcp=True, checkout=before)
                )
    print(f"| part | n | median | max |  ({args.reps} reps, alternating)")
    print("|---|---|---|---|")
    for name, values in figures.items():
        median, worst = statistics.median(values) * 1000, max(values) * 1000
        print(f"| {name} | {len(values)} | {median:.0f} ms | {worst:.0f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
