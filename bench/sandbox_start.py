"""Per-step start cost of the bubblewrap sandbox: process start to first printed line.

A step is started the way ``StepProcess`` starts it (own session, pipes) with
the command line ``api.agents.sandbox.sandboxed`` builds, once with
``OMAKASE_AGENT_SANDBOX=bwrap`` and once with ``none``, alternating so both
see the same machine load. Two agents: ``/bin/echo`` (bwrap's own cost, nothing
else) and ``python -c print`` (an interpreter start, like the demo agent).
The one-time probe (``bwrap_problem``) is measured separately.

Usage::

    .venv/bin/python -m bench.sandbox_start               # 200 starts per variant
    .venv/bin/python -m bench.sandbox_start --repeat 50
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from api.agents.sandbox import bwrap_problem, sandboxed
from api.settings import SandboxMode, Settings

AGENTS = {
    "echo": ["/bin/echo", "ready"],
    "python": [sys.executable, "-c", "print('ready')"],
}
MODES = (SandboxMode.NONE, SandboxMode.BWRAP)
MS = 1000.0


def first_line_ms(argv: list[str], workspace: Path) -> float:
    started = time.perf_counter()
    process = subprocess.Popen(
        argv,
        cwd=workspace,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    elapsed = (time.perf_counter() - started) * MS
    process.communicate()
    if line != b"ready\n" or process.returncode != 0:
        raise RuntimeError(f"{argv[0]} printed {line!r}, exit code {process.returncode}")
    return elapsed


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    return f"median {statistics.median(ordered):6.1f}  p90 {p90:6.1f}  max {ordered[-1]:6.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    problem = bwrap_problem("bwrap")
    probe_ms = (time.perf_counter() - started) * MS
    if problem is not None:
        print(f"bwrap cannot run here: {problem}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as folder:
        root = Path(folder) / "workspaces"
        workspace = root / "feat_bench"
        workspace.mkdir(parents=True)
        times: dict[tuple[str, SandboxMode], list[float]] = {}
        for _ in range(args.repeat):
            for name, agent in AGENTS.items():
                for mode in MODES:
                    settings = Settings(workspace_root=root, agent_sandbox=mode)
                    command = sandboxed(agent, settings=settings, workspace=workspace)
                    times.setdefault((name, mode), []).append(first_line_ms(command, workspace))
    print(f"one-time probe: {probe_ms:.1f} ms; {args.repeat} starts per variant (ms):")
    for name in AGENTS:
        for mode in MODES:
            print(f"  {name:<7} {mode.value:<6} {summary(times[(name, mode)])}")
        extra = statistics.median(times[(name, SandboxMode.BWRAP)]) - statistics.median(
            times[(name, SandboxMode.NONE)]
        )
        print(f"  {name:<7} bwrap adds {extra:.1f} ms (median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
