"""Where the Claude Code CLI lives: the copy the project pins, else one on PATH.

The live-agent runner and its tests must run the version we measured
(docs/CLAUDE_STREAM.md): mid-turn behaviour changes across CLI releases, so the
pinned npm package in infra/claude_code wins over whatever is installed globally.
"""

from __future__ import annotations

import shutil
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
#: The CLI installed by ``npm ci`` in infra/claude_code (``make run`` / ``make test`` do it).
PINNED_CLAUDE_BIN = REPO_ROOT / "infra" / "claude_code" / "node_modules" / ".bin" / "claude"
#: The version infra/claude_code/package.json pins.
PINNED_CLAUDE_VERSION = "2.1.197"


def default_claude_bin() -> str:
    """The pinned CLI if installed, else ``claude`` on PATH, else the bare name ``claude``.

    The bare name keeps the failure where it belongs: spawning it reports that
    the CLI is missing, at the moment someone actually needs it.
    """
    if PINNED_CLAUDE_BIN.exists():
        return str(PINNED_CLAUDE_BIN)
    return shutil.which("claude") or "claude"
