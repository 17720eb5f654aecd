"""Bench-only wrapper of an agent CLI: records when each input line reaches the agent.

It wraps Claude Code, or codex when ``STDIN_CLOCK_CLI=codex``. The id recorded is
the line's ``uuid`` (Claude Code's stream-json) or its ``params.clientUserMessageId``
(codex app-server's ``turn/steer`` / ``turn/start``): both are derived from the
message id (``api.agents.live.session.message_uuid``).

``OMAKASE_CLAUDE_BIN=<python> -m bench.stdin_clock`` is not a single path, so the
bench points the runner at a tiny shell script that execs this module. Every
stdin line is timestamped (``time.time()``, with its ``uuid``) into
``$STDIN_CLOCK_FILE`` (relative to ``$OMAKASE_STATE_DIR``, the step's state folder
in its agent home: a place a sandboxed step can write and the bench can read) the
moment it arrives, then forwarded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

from infra.claude_cli import default_claude_bin
from infra.codex_cli import default_codex_bin


def line_id(line: bytes) -> str:
    try:
        payload = json.loads(line)
    except ValueError:
        return ""
    if not isinstance(payload, dict):
        return ""
    params = payload.get("params")
    if isinstance(params, dict) and params.get("clientUserMessageId"):
        return str(params["clientUserMessageId"])
    return str(payload.get("uuid", ""))


def main() -> int:
    # Relative to the step's state folder in the agent home (never the workspace: a
    # file there would land in the step's commit).
    path = os.path.join(os.environ.get("OMAKASE_STATE_DIR", "."), os.environ["STDIN_CLOCK_FILE"])
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    clock = open(path, "a", buffering=1)  # noqa: SIM115
    codex = os.environ.get("STDIN_CLOCK_CLI") == "codex"
    binary = default_codex_bin() if codex else default_claude_bin()
    child = subprocess.Popen([binary, *sys.argv[1:]], stdin=subprocess.PIPE)
    assert child.stdin is not None

    def forward() -> None:
        assert child.stdin is not None
        for line in sys.stdin.buffer:
            arrived = time.time()
            uuid = line_id(line)
            child.stdin.write(line)
            child.stdin.flush()
            clock.write(f"{arrived:.6f} {uuid}\n")
        child.stdin.close()

    threading.Thread(target=forward, daemon=True).start()
    return child.wait()


if __name__ == "__main__":
    sys.exit(main())
