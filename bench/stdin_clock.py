"""Bench-only wrapper of the Claude Code CLI: records when each input line reaches the agent.

``OMAKASE_CLAUDE_BIN=<python> -m bench.stdin_clock`` is not a single path, so the
bench points the runner at a tiny shell script that execs this module. Every
stdin line is timestamped (``time.time()``, with its ``uuid``) into
``$STDIN_CLOCK_FILE`` (relative to the step's workspace, the one place a sandboxed
step can write that the bench can read) the moment it arrives, then forwarded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

from infra.claude_cli import default_claude_bin


def main() -> int:
    clock = open(os.environ["STDIN_CLOCK_FILE"], "a", buffering=1)  # noqa: SIM115
    child = subprocess.Popen([default_claude_bin(), *sys.argv[1:]], stdin=subprocess.PIPE)
    assert child.stdin is not None

    def forward() -> None:
        assert child.stdin is not None
        for line in sys.stdin.buffer:
            arrived = time.time()
            try:
                uuid = str(json.loads(line).get("uuid", ""))
            except ValueError:
                uuid = ""
            child.stdin.write(line)
            child.stdin.flush()
            clock.write(f"{arrived:.6f} {uuid}\n")
        child.stdin.close()

    threading.Thread(target=forward, daemon=True).start()
    return child.wait()


if __name__ == "__main__":
    sys.exit(main())
