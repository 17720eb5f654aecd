"""An agent that probes its sandbox (the ``command`` runner of test_sandbox_http.py runs it).

What to do comes as JSON in the feature's description (``OMAKASE_FEATURE_DESCRIPTION``):

* ``{"mode": "report", "read": [...], "write": [...], "tmp_marker": "..."}`` —
  write ``.omakase/sandbox-<step>.json`` in the workspace: every readable
  ``/proc/*/environ`` (pid → text), the visible pids, what each path in ``read``
  gave, whether each path in ``write`` could be created, what ``/tmp`` holds;
  then exit 0 so the pipeline goes on.
* ``{"mode": "linger", "marker": "..."}`` — start two children that ignore
  SIGTERM (one of them in a session of its own, out of the process group) with
  the marker in their command lines, write ``.omakase/lingering`` and wait to
  be stopped.
* ``{"mode": "graceful"}`` — on SIGTERM take ``CLEANUP_S`` to clean up, write
  ``.omakase/terminated`` and exit; write ``.omakase/lingering`` and wait for it.

Standard library only: it runs in the sandbox with the repository read-only.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

#: How long a lingering process waits to be stopped (far beyond any test).
LINGER_S = 600.0
#: How long the graceful agent's clean-up takes (well inside the stop grace of 3 s).
CLEANUP_S = 0.5


def _read(path: str) -> str:
    try:
        return "read:" + Path(path).read_text(errors="replace")
    except OSError as error:
        return f"error:{type(error).__name__}"


def _write(path: str) -> str:
    try:
        Path(path).write_text("probe\n")
    except OSError as error:
        return f"error:{type(error).__name__}"
    return "written"


def _environs() -> dict[str, str]:
    found: dict[str, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found[entry.name] = (entry / "environ").read_bytes().decode(errors="replace")
            except OSError:
                continue
    return found


def report(spec: dict[str, Any], workspace: Path) -> None:
    result = {
        "environs": _environs(),
        "pids": sorted(int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()),
        "reads": {path: _read(path) for path in spec.get("read", [])},
        "writes": {path: _write(path) for path in spec.get("write", [])},
        "tmp": sorted(os.listdir("/tmp")),
        "home": os.environ.get("HOME", ""),
        "home_write": _write(os.path.join(os.environ.get("HOME", "/nonexistent"), "probe.txt")),
        "workspace_root": sorted(os.listdir(workspace.parent)),
    }
    _write(f"/tmp/{spec.get('tmp_marker', 'marker')}")
    out = workspace / ".omakase" / f"sandbox-{os.environ['OMAKASE_STEP']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))


def linger(spec: dict[str, Any], workspace: Path) -> None:
    marker = spec["marker"]
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
    for new_session in (False, True):
        subprocess.Popen([sys.executable, "-c", code, marker], start_new_session=new_session)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    flag = workspace / ".omakase" / "lingering"
    flag.parent.mkdir(parents=True, exist_ok=True)
    flag.write_text("ready\n")
    time.sleep(LINGER_S)


def graceful(_spec: dict[str, Any], workspace: Path) -> None:
    def finish(_signum: int, _frame: object) -> None:
        time.sleep(CLEANUP_S)
        (workspace / ".omakase" / "terminated").write_text("cleaned up\n")
        sys.exit(0)

    signal.signal(signal.SIGTERM, finish)
    flag = workspace / ".omakase" / "lingering"
    flag.parent.mkdir(parents=True, exist_ok=True)
    flag.write_text("ready\n")
    time.sleep(LINGER_S)


def main() -> int:
    spec = json.loads(os.environ["OMAKASE_FEATURE_DESCRIPTION"])
    workspace = Path(os.environ["OMAKASE_WORKSPACE"])
    {"report": report, "linger": linger, "graceful": graceful}[spec["mode"]](spec, workspace)
    return 0


if __name__ == "__main__":
    sys.exit(main())
