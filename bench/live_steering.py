"""Live steering of a real Claude Code step, measured side by side with the v1 relay and the demo.

One run, one machine, the real pinned CLI against the scripted model (tests/support):

* **steer**: POST (mode ``steer``) → the line reaches the agent's stdin (a wrapper
  CLI, ``bench.stdin_clock``, timestamps each line as it arrives);
* **interrupt**: POST (mode ``interrupt``) while a tool runs → the model request
  that carries the message;
* **v1 relay**: POST (mode ``queue``) during the coder's step → the reviewer's first
  model request (the next step start, where v1 delivered everything);
* **per-step overhead**: run created → the agent's first sign of life: the first
  model request (claude) against the first line the demo agent prints (demo).

Usage::

    .venv/bin/python -m bench.live_steering              # ~3-4 min
    .venv/bin/python -m bench.live_steering --steer 40 --interrupt 15
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from api.agents.live.session import message_uuid
from infra.local_engine import LocalEngine
from tests.support.claude_session import claude_env
from tests.support.fake_model import FakeModel
from tests.support.fake_model_script import ModelRequest, bash, text
from tests.support.servers import ApiServer

TOKEN = "bench-token"
WAIT_S = 120.0
#: The coder's tool while messages are measured (each steer lands at its end).
TOOL = "sleep 1"
FINISH = "FINISH-THE-STEP"
DEMO_STEP_SECONDS = "1"


def wall(at_monotonic: float) -> float:
    return at_monotonic + (time.time() - time.monotonic())


def parse_iso(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def coder_responder(request: ModelRequest) -> list[dict[str, Any]]:
    if "the **coder**" in request.all_text and FINISH not in request.all_text:
        return [bash(TOOL)]
    return [text("Done.")]


def wait(check: Any, what: str) -> Any:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.01)
    raise SystemExit(f"timed out waiting for {what}")


def clock_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"{statistics.median(ordered) * 1000:8.1f} {p99 * 1000:8.1f} {len(ordered):5d}"


def api(engine: LocalEngine, root: Path, prefix: str, env: dict[str, str]) -> ApiServer:
    return ApiServer(
        endpoint=engine.endpoint,
        prefix=prefix,
        token=TOKEN,
        log_path=root / f"{prefix}.log",
        env={
            "OMAKASE_WORKSPACE_ROOT": str(root / prefix),
            "OMAKASE_MONITOR_INTERVAL_SECONDS": "0.2",
            **env,
        },
    )


def new_feature(client: httpx.Client, name: str) -> dict[str, Any]:
    project = client.post("/api/projects", json={"name": name}).json()
    feature = client.post(f"/api/projects/{project['id']}/features", json={"name": name}).json()
    return dict(feature)


def runs_of(client: httpx.Client, feature: dict[str, Any]) -> list[dict[str, Any]]:
    runs = client.get(f"/api/projects/{feature['projectId']}/agent-runs").json()
    return sorted((r for r in runs if r["featureId"] == feature["id"]), key=lambda r: r["step"])


def measure_claude(
    engine: LocalEngine, root: Path, steers: int, interrupts: int
) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {}
    clock_name = ".omakase/stdin-clock.txt"  # in the feature's workspace
    wrapper = root / "claude-with-clock"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m bench.stdin_clock "$@"\n')
    wrapper.chmod(0o755)
    with FakeModel(coder_responder) as model:
        env = {
            k: v
            for k, v in claude_env(model, root / "home").items()
            if k.startswith(("ANTHROPIC_", "CLAUDE", "DISABLE_", "HOME"))
        }
        env |= {
            "OMAKASE_RUNNER": "claude",
            "OMAKASE_CLAUDE_BIN": str(wrapper),
            "STDIN_CLOCK_FILE": clock_name,
            "PYTHONPATH": str(Path.cwd()),
        }
        with api(engine, root, "claude", env) as server, server.client() as client:
            feature = new_feature(client, "Live steering bench")
            clock_file = root / "claude" / feature["id"] / clock_name
            coder = wait(
                lambda: next((r for r in runs_of(client, feature) if r["role"] == "coder"), None),
                "the coder",
            )
            wait(
                lambda: client.get(f"/api/agent-runs/{coder['id']}").json()["status"] == "coding",
                "the coder's tool",
            )
            url = f"/api/agent-runs/{coder['id']}/messages"
            steer: list[float] = []
            answered: list[float] = []
            for i in range(steers):
                message_id = f"bench-steer-{uuid.uuid4().hex[:8]}"
                line_uuid = message_uuid(message_id)
                started = time.time()
                client.post(url, json={"content": f"steer {i}", "id": message_id})
                answered.append(time.time() - started)
                arrived = wait(
                    lambda u=line_uuid: next(
                        (
                            float(line.split()[0])
                            for line in clock_lines(clock_file)
                            if line.endswith(u)
                        ),
                        None,
                    ),
                    "the steer line",
                )
                steer.append(arrived - started)
                time.sleep(0.2)
            figures["POST steer → 201 (the message committed; baseline)"] = answered
            figures["POST steer → written to the agent's stdin"] = steer
            interrupt: list[float] = []
            for i in range(interrupts):
                words = f"interrupt number {i} {uuid.uuid4().hex[:6]}"
                started = time.monotonic()
                client.post(url, json={"content": words, "mode": "interrupt"})
                reached = model.wait_for_text(words, WAIT_S)
                interrupt.append(reached.at - started)
                time.sleep(1.5)  # the next tool is running again
            figures["POST interrupt → model request carrying it"] = interrupt
            queued = f"for the next step {uuid.uuid4().hex[:6]}"
            queued_at = time.monotonic()
            client.post(url, json={"content": queued, "mode": "queue"})
            client.post(url, json={"content": FINISH})
            reached = model.wait_for_request(
                lambda r: (
                    r.is_agent_call and "the **reviewer**" in r.all_text and r.contains(queued)
                ),
                WAIT_S,
            )
            figures["POST queue → next step's model request (v1 relay)"] = [reached.at - queued_at]
            wait(
                lambda: (
                    client.get(f"/api/features/{feature['id']}").json()["status"]
                    in ("passing", "failing")
                ),
                "the feature to finish",
            )
            overhead = []
            for run in runs_of(client, feature):
                created = parse_iso(run["startedAt"])
                role_text = f"the **{run['role']}**"
                firsts = [
                    wall(r.at)
                    for r in model.agent_requests
                    if role_text in r.all_text and wall(r.at) >= created
                ]
                if firsts:
                    overhead.append(min(firsts) - created)
            figures["step overhead: run created → first model request (claude)"] = overhead
    return figures


def measure_demo(engine: LocalEngine, root: Path) -> dict[str, list[float]]:
    env = {"OMAKASE_RUNNER": "demo", "OMAKASE_DEMO_STEP_SECONDS": DEMO_STEP_SECONDS}
    with api(engine, root, "demo", env) as server, server.client() as client:
        feature = new_feature(client, "Demo bench")
        wait(
            lambda: (
                client.get(f"/api/features/{feature['id']}").json()["status"]
                in ("passing", "failing")
            ),
            "the demo feature",
        )
        overhead = []
        for run in runs_of(client, feature):
            lines = client.get(f"/api/agent-runs/{run['id']}/logs").json()
            printed = [parse_iso(line["timestamp"]) for line in lines if line["stream"] == "stdout"]
            if printed:
                overhead.append(min(printed) - parse_iso(run["startedAt"]))
    return {"step overhead: run created → first line printed (demo)": overhead}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steer", type=int, default=25)
    parser.add_argument("--interrupt", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, LocalEngine(Path(tmp) / "engine") as engine:
        root = Path(tmp)
        figures = measure_claude(engine, root, args.steer, args.interrupt)
        figures |= measure_demo(engine, root)
    print(f"{'measure':62} {'p50 ms':>8} {'p99 ms':>8} {'n':>5}")
    for name, values in figures.items():
        print(f"{name:62} {percentiles(values)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
