"""Where the Codex CLI lives: the copy the project pins, else one on PATH.

As for Claude Code (``infra.claude_cli``): the codex runner and its tests run the
version whose app-server protocol we generated our types from
(``api.agents.codex.protocol``), so the pinned npm package in infra/codex wins.
"""

from __future__ import annotations

import shutil
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
#: The CLI installed by ``npm ci`` in infra/codex (``make run`` / ``make test`` do it).
PINNED_CODEX_BIN = REPO_ROOT / "infra" / "codex" / "node_modules" / ".bin" / "codex"
#: The version infra/codex/package.json pins.
PINNED_CODEX_VERSION = "0.171.0"


def default_codex_bin() -> str:
    """The pinned CLI if installed, else ``codex`` on PATH, else the bare name ``codex``."""
    if PINNED_CODEX_BIN.exists():
        return str(PINNED_CODEX_BIN)
    return shutil.which("codex") or "codex"
