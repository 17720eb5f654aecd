"""Live steering of a real agent CLI step, before and after, side by side in one run.

One machine, the real pinned CLI against the scripted model (tests/support), each
variant an API process on the same local engine with ``OMAKASE_RUNNER=<runner>``:
``after`` is this checkout, ``before`` (``--before <checkout>``, e.g. a clone at
the commit before the change) the code it replaces, started the same way. Per
variant:

* **steer**: POST (mode ``steer``) → the line reaches the agent's stdin (a wrapper
  CLI, ``bench.stdin_clock``, timestamps each line as it arrives), and POST → 201;
* **steer across processes**: the same POST through a second API process (no
  pipeline of its own), which the step's process finds by its store poll;
* **interrupt**: POST (mode ``interrupt``) while a tool runs → the model request
  that carries the message, and (this checkout: ``OMAKASE_HOP_LOG``) the time of
  each hop on the way: POST in, committed, offered to the session, control request
  written, the CLI's ``control_response``, the message's line written, the turn's
  end, then the model request;
* **per-step overhead**: run created → first model request, over the feature's steps.

Runners: ``RUNNERS`` says how to run one (its env, its stdin wrapper); claude is
here, another runner adds an entry.

Usage::

    .venv/bin/python -m bench.live_steering --steer 200 --interrupt 50 --before /tmp/base
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from api.agents.live.contract import message_uuid
from bench.checkout_api import api
from infra.local_engine import LocalEngine
from tests.support.claude_session import claude_env
from tests.support.fake_model import FakeModel
from tests.support.fake_model_script import ModelRequest, bash, text

WAIT_S = 120.0
#: The coder's tool while messages are measured (each steer lands at its end).
TOOL = "sleep 1"
FINISH = "FINISH-THE-STEP"
#: Pause between steers, and after an interrupt (the next tool is running again).
STEER_GAP_S = 0.2
INTERRUPT_GAP_S = 1.5
#: An interrupt slower than this is printed hop by hop (stderr).
SLOW_INTERRUPT_S = 0.3
#: Hops logged by the API (``api.agents.hops``), in path order.
HOPS = (
    "committed",
    "offered",
    "interrupt_written",
    "control_response",
    "line_written",
)


def wall(at_monotonic: float) -> float:
    return at_monotonic + (time.time() - time.monotonic())


def parse_iso(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def coder_responder(request: ModelRequest) -> list[dict[str, Any]]:
    if "the **coder**" in request.all_text and FINISH not in request.all_text:
        return [bash(TOOL)]
    return [text("Done.")]


def wait(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.005)
    raise SystemExit(f"timed out waiting for {what}")


def percentiles(values: list[float]) -> tuple[float, float, int]:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p99 * 1000, len(ordered)


def new_feature(client: httpx.Client, name: str) -> dict[str, Any]:
    project = client.post("/api/projects", json={"name": name}).json()
    feature = client.post(f"/api/projects/{project['id']}/features", json={"name": name}).json()
    return dict(feature)


def runs_of(client: httpx.Client, feature: dict[str, Any]) -> list[dict[str, Any]]:
    runs = client.get(f"/api/projects/{feature['projectId']}/agent-runs").json()
    return sorted((r for r in runs if r["featureId"] == feature["id"]), key=lambda r: r["step"])


@dataclass
class Runner:
    """How the bench runs one kind of live step."""

    name: str
    #: The API's environment for this runner, given the model, the bench's folder and
    #: the stdin-clock file name (relative to the step's workspace).
    env: Callable[[FakeModel, Path, str], dict[str, str]]


def claude_runner_env(model: FakeModel, root: Path, clock_name: str) -> dict[str, str]:
    wrapper = root / "claude-with-clock"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m bench.stdin_clock "$@"\n')
    wrapper.chmod(0o755)
    env = {
        k: v
        for k, v in claude_env(model, root / "home").items()
        if k.startswith(("ANTHROPIC_", "CLAUDE", "DISABLE_", "HOME"))
    }
    return env | {
        "OMAKASE_RUNNER": "claude",
        "OMAKASE_CLAUDE_BIN": str(wrapper),
        "STDIN_CLOCK_FILE": clock_name,
        "PYTHONPATH": str(Path.cwd()),
    }


RUNNERS = {"claude": Runner("claude", claude_runner_env)}


class Clock:
    """When each line reached the agent's stdin (``bench.stdin_clock``), by uuid."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def arrival(self, line_uuid: str) -> float | None:
        if not self.path.exists():
            return None
        for line in self.path.read_text().splitlines():
            if line.endswith(line_uuid):
                return float(line.split()[0])
        return None


def read_hops(path: Path) -> dict[str, dict[str, float]]:
    """message id → hop → first monotonic time (the turn's end keyed by order, see below)."""
    found: dict[str, dict[str, float]] = {}
    if not path.exists():
        return found
    for line in path.read_text().splitlines():
        at, name, *key = line.split()
        found.setdefault(key[0] if key else "", {}).setdefault(name, float(at))
    return found


def turn_ends(path: Path) -> list[float]:
    if not path.exists():
        return []
    return sorted(
        float(line.split()[0]) for line in path.read_text().splitlines() if " turn_result " in line
    )


def steer(
    client: httpx.Client, url: str, clock: Clock, n: int, tag: str
) -> tuple[list[float], list[float]]:
    to_stdin: list[float] = []
    answered: list[float] = []
    for i in range(n):
        message_id = f"bench-{tag}-{uuid.uuid4().hex[:8]}"
        line_uuid = message_uuid(message_id)
        started = time.time()
        client.post(url, json={"content": f"steer {tag} {i}", "id": message_id}).raise_for_status()
        answered.append(time.time() - started)
        arrived = float(wait(partial(clock.arrival, line_uuid), "the steer line"))
        to_stdin.append(arrived - started)
        time.sleep(STEER_GAP_S)
    return to_stdin, answered


def interrupt(
    client: httpx.Client, url: str, model: FakeModel, n: int, hop_log: Path
) -> tuple[list[float], dict[str, list[float]]]:
    figures: list[float] = []
    posted: list[tuple[str, float, float]] = []
    for i in range(n):
        message_id = f"bench-int-{uuid.uuid4().hex[:8]}"
        words = f"interrupt number {i} {message_id}"
        started = time.monotonic()
        client.post(
            url, json={"content": words, "mode": "interrupt", "id": message_id}
        ).raise_for_status()
        reached = model.wait_for_text(words, WAIT_S)
        figures.append(reached.at - started)
        posted.append((message_id, started, reached.at))
        time.sleep(INTERRUPT_GAP_S)
    hops = read_hops(hop_log)
    ends = turn_ends(hop_log)
    segments: dict[str, list[float]] = {}
    for message_id, started, reached_at in posted:
        mine = hops.get(message_id, {})
        if not mine:
            continue  # this variant logs no hops
        marks = {"POST in": mine.get("post_in")} | {name: mine.get(name) for name in HOPS}
        end = next((at for at in ends if at >= mine.get("interrupt_written", started)), None)
        marks["the turn's end (result)"] = end if end is not None and end <= reached_at else None
        marks["the model request"] = reached_at
        for name, at in marks.items():
            if at is not None:
                segments.setdefault(f"  POST sent → {name}", []).append(at - started)
        if reached_at - started > SLOW_INTERRUPT_S:  # the tail, sample by sample
            shown = {k: round(1000 * (v - started), 1) for k, v in marks.items() if v is not None}
            print(f"slow interrupt {message_id}: {shown}", file=sys.stderr)
    return figures, segments


def measure(
    engine: LocalEngine,
    root: Path,
    runner: Runner,
    checkout: Path | None,
    tag: str,
    args: argparse.Namespace,
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    clock_name = ".omakase/stdin-clock.txt"  # in the feature's workspace
    hop_log = root / f"hops-{tag}.txt"
    with FakeModel(coder_responder) as model:
        env = runner.env(model, root, clock_name) | {"OMAKASE_HOP_LOG": str(hop_log)}
        other_env = {"OMAKASE_AUTO_START_FEATURES": "false"}
        with (
            api(engine, root, f"{tag}-a", env, checkout, tag) as server,
            api(engine, root, f"{tag}-b", other_env, checkout, tag) as other,
            server.client() as client,
            other.client() as other_client,
        ):
            feature = new_feature(client, f"Live steering bench {tag}")
            clock = Clock(root / f"{tag}-a" / feature["id"] / clock_name)
            coder = wait(
                lambda: next((r for r in runs_of(client, feature) if r["role"] == "coder"), None),
                "the coder",
            )
            run_url = f"/api/agent-runs/{coder['id']}"
            wait(lambda: client.get(run_url).json()["status"] == "coding", "the coder's tool")
            url = f"{run_url}/messages"
            figures: dict[str, list[float]] = {}
            print(f"{tag}: the coder is live; steering", file=sys.stderr)
            stdin, answered = steer(client, url, clock, args.steer, tag)
            figures["POST steer → 201 (the message committed)"] = answered
            figures["POST steer → the agent's stdin (same process)"] = stdin
            print(f"{tag}: steering through the other process", file=sys.stderr)
            across, _ = steer(other_client, url, clock, args.across, tag + "x")
            figures["POST steer → the agent's stdin (through another process)"] = across
            print(f"{tag}: interrupting", file=sys.stderr)
            cut, segments = interrupt(client, url, model, args.interrupt, hop_log)
            figures["POST interrupt → the model request carrying it"] = cut
            client.post(url, json={"content": FINISH})
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
            figures["step start: run created → first model request"] = overhead
    return figures, segments


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runner", choices=sorted(RUNNERS), default="claude")
    parser.add_argument("--steer", type=int, default=25)
    parser.add_argument("--across", type=int, default=20, help="steers through another process")
    parser.add_argument("--interrupt", type=int, default=10)
    parser.add_argument(
        "--before", type=Path, default=None, help="a checkout of the replaced code (optional)"
    )
    parser.add_argument("--keep", type=Path, default=None, help="work here and keep the logs")
    args = parser.parse_args()
    runner = RUNNERS[args.runner]
    results: dict[str, tuple[dict[str, list[float]], dict[str, list[float]]]] = {}
    with contextlib.ExitStack() as stack:
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            root = args.keep.resolve()
        else:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        engine = stack.enter_context(LocalEngine(root / "engine"))
        if args.before is not None:
            results["before"] = measure(engine, root, runner, args.before.resolve(), "before", args)
        results["after"] = measure(engine, root, runner, None, "after", args)
    variants = list(results)
    header = f"{'measure (' + runner.name + ')':64}" + "".join(
        f" {v + ' p50':>12} {v + ' p99':>12} {'n':>4}" for v in variants
    )
    print(header)
    for name in results["after"][0]:
        row = f"{name:64}"
        for variant in variants:
            p50, p99, n = percentiles(results[variant][0][name] or [0.0])
            row += f" {p50:12.1f} {p99:12.1f} {n:4d}"
        print(row)
    print("\ninterrupt, hop by hop (after; each from the moment the POST was sent), ms:")
    for name, values in results["after"][1].items():
        p50, p99, n = percentiles(values)
        print(f"{name:64} {p50:12.1f} {p99:12.1f} {n:4d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
