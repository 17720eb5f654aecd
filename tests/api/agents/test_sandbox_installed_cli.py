"""A CLI installed anywhere runs in the sandbox: the pinned claude and codex, installed under /tmp.

Regression: ``OMAKASE_CLAUDE_BIN=/tmp/cli/node_modules/.bin/claude`` failed every
step with "bwrap: execvp …: No such file or directory": the private /tmp hid the
package and only the link's target file was shown. Now the whole installation
(the enclosing ``node_modules``, with codex's native package beside its script)
is shown read-only, and its ``#!/usr/bin/env node`` interpreter is found. The
installs here are hard links of the pinned ones (instant, nothing copied).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from api.agents.sandbox import bwrap_problem, sandboxed
from api.settings import SandboxMode, Settings
from infra.claude_cli import PINNED_CLAUDE_BIN, PINNED_CLAUDE_VERSION
from infra.codex_cli import PINNED_CODEX_BIN, PINNED_CODEX_VERSION
from tests.support.codex_cli import installed_under_tmp

pytestmark = pytest.mark.skipif(
    bwrap_problem("bwrap") is not None, reason="bubblewrap cannot run here"
)
#: A cold start of either CLI in bwrap on a loaded machine.
RUN_TIMEOUT_S = 60.0


@pytest.mark.parametrize(
    ("pinned", "version"),
    [(PINNED_CLAUDE_BIN, PINNED_CLAUDE_VERSION), (PINNED_CODEX_BIN, PINNED_CODEX_VERSION)],
    ids=["claude", "codex"],
)
def test_a_cli_installed_under_tmp_runs_in_the_sandbox(
    pinned: Path, version: str, tmp_path: Path
) -> None:
    if not pinned.exists():
        pytest.fail(f"the pinned CLI is missing ({pinned}): run `make setup`")
    assert tmp_path.is_relative_to("/tmp")  # where the bug was
    program = installed_under_tmp(pinned, tmp_path / "cli")
    workspace = tmp_path / "ws" / "feat_1"
    workspace.mkdir(parents=True)
    settings = Settings(workspace_root=tmp_path / "ws", agent_sandbox=SandboxMode.BWRAP)
    argv = sandboxed([str(program), "--version"], settings=settings, workspace=workspace)
    modules = str(tmp_path / "cli" / "node_modules")
    assert ["--ro-bind", modules, modules] == argv[
        argv.index(modules) - 1 : argv.index(modules) + 2
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stderr
    assert version in done.stdout
