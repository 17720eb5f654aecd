"""Live steering of real claude and codex steps, side by side with the v1 relay and the demo.

One run, one machine, the real pinned CLIs (Claude Code, codex app-server) against
the scripted models of tests/support (Anthropic Messages, OpenAI Responses):

* **steer**: POST (mode ``steer``) → the line reaches the agent's stdin (a wrapper
  CLI, ``bench.stdin_clock``, timestamps each line as it arrives);
* **interrupt**: POST (mode ``interrupt``) while a tool runs → the model request
  that carries the message;
* **v1 relay**: POST (mode ``queue``) during the coder's step → the reviewer's first
  model request (the next step start, where v1 delivered everything);
* **per-step overhead**: run created → the agent's first sign of life: the first
  model request (claude, codex) against the first line the demo agent prints (demo).

Usage::

    .venv/bin/python -m bench.live_runners              # ~6-8 min
    .venv/bin/python -m bench.live_runners --steer 40 --interrupt 15
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

from api.agents.home import AgentHome
from api.agents.live.contract import message_uuid
from infra.local_engine import LocalEngine
from tests.support.claude_session import claude_env
from tests.support.codex_cli import codex_args
from tests.support.fake_model import FakeModel
from tests.support.fake_model_script import ModelRequest, bash, text
from tests.support.fake_responses import FakeResponses
from tests.support.fake_responses_script import ResponsesRequest, say, shell
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


def codex_responder(request: ResponsesRequest) -> list[dict[str, Any]]:
    if "the **coder**" in request.first_prompt and FINISH not in request.all_text:
        return [shell(TOOL)]
    return [say("Done.")]


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


def wrapper_script(root: Path, kind: str) -> Path:
    wrapper = root / f"{kind}-with-clock"
    wrapper.write_text(
        f'#!/bin/sh\nSTDIN_CLOCK_CLI={kind} exec {sys.executable} -m bench.stdin_clock "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper


def measure_claude(
    engine: LocalEngine, root: Path, steers: int, interrupts: int
) -> dict[str, list[float]]:
    with FakeModel(coder_responder) as model:
        env = {
            k: v
            for k, v in claude_env(model, root / "home").items()
            if k.startswith(("ANTHROPIC_", "CLAUDE", "DISABLE_", "HOME"))
        }
        env |= {
            "OMAKASE_RUNNER": "claude",
            "OMAKASE_CLAUDE_BIN": str(wrapper_script(root, "claude")),
        }
        return measure_live(engine, root, "claude", model, env, steers, interrupts)


def measure_codex(
    engine: LocalEngine, root: Path, steers: int, interrupts: int
) -> dict[str, list[float]]:
    with FakeResponses(codex_responder) as model:
        (root / "codex-home").mkdir(exist_ok=True)
        env = {
            "OMAKASE_RUNNER": "codex",
            "OMAKASE_CODEX_BIN": str(wrapper_script(root, "codex")),
            "OMAKASE_CODEX_ARGS": codex_args(model),
            "OPENAI_API_KEY": "bench",
            "CODEX_HOME": str(root / "codex-home"),  # no sign-in of the person's
        }
        return measure_live(engine, root, "codex", model, env, steers, interrupts)


def is_role(request: ModelRequest | ResponsesRequest, role: str) -> bool:
    """A model request of ``role``'s step (codex: its thread began with that role's prompt)."""
    if isinstance(request, ResponsesRequest):
        return f"the **{role}**" in request.first_prompt
    return request.is_agent_call and f"the **{role}**" in request.all_text


def measure_live(
    engine: LocalEngine,
    root: Path,
    kind: str,
    model: FakeModel | FakeResponses,
    env: dict[str, str],
    steers: int,
    interrupts: int,
) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {}
    clock_name = "stdin-clock.txt"  # in the step's state folder (its agent home)
    env = {**env, "STDIN_CLOCK_FILE": clock_name, "PYTHONPATH": str(Path.cwd())}
    with api(engine, root, kind, env) as server, server.client() as client:
        feature = new_feature(client, "Live steering bench")
        clock_file = AgentHome.of(root / kind / feature["id"]).state / clock_name
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
        figures[f"{kind}: POST steer → 201 (the message committed; baseline)"] = answered
        figures[f"{kind}: POST steer → written to the agent's stdin"] = steer
        interrupt: list[float] = []
        for i in range(interrupts):
            words = f"interrupt number {i} {uuid.uuid4().hex[:6]}"
            started = time.monotonic()
            client.post(url, json={"content": words, "mode": "interrupt"})
            reached_at = model.wait_for_text(words, WAIT_S).at
            interrupt.append(reached_at - started)
            time.sleep(1.5)  # the next tool is running again
        figures[f"{kind}: POST interrupt → model request carrying it"] = interrupt
        queued = f"for the next step {uuid.uuid4().hex[:6]}"
        queued_at = time.monotonic()
        client.post(url, json={"content": queued, "mode": "queue"})
        client.post(url, json={"content": FINISH})
        relayed_at = wait(
            lambda: next(
                (r.at for r in model.requests if is_role(r, "reviewer") and r.contains(queued)),
                None,
            ),
            "the relayed message",
        )
        figures[f"{kind}: POST queue → next step's model request (v1 relay)"] = [
            relayed_at - queued_at
        ]
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
            firsts = [
                wall(r.at)
                for r in model.requests
                if is_role(r, run["role"]) and wall(r.at) >= created
            ]
            if firsts:
                overhead.append(min(firsts) - created)
        figures[f"{kind}: step overhead: run created → first model request"] = overhead
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
        figures |= measure_codex(engine, root, args.steer, args.interrupt)
        figures |= measure_demo(engine, root)
    print(f"{'measure':70} {'p50 ms':>8} {'p99 ms':>8} {'n':>5}")
    for name, values in figures.items():
        print(f"{name:70} {percentiles(values)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
