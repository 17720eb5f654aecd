"""The real Claude Code CLI in the step sandbox: it works there, and so do its tools — confined.

The pinned CLI (infra/claude_code) runs under the command line
``api.agents.sandbox.sandboxed`` builds, against the scripted model
(tests/support/fake_model.py) on loopback, with ``CLAUDE_CONFIG_DIR`` in the
workspace as the claude runner sets it. The model has it run one Bash command
that looks for the secret of a process outside the sandbox (a stand-in for the
API) in ``/proc/*/environ``, writes outside the workspace and reports its HOME;
the tool result the CLI sends back to the model is the evidence.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from api.agents.home import HOMES_DIR
from api.agents.sandbox import bwrap_problem, sandboxed
from api.settings import SandboxMode, Settings
from infra.claude_cli import default_claude_bin
from tests.support.claude_session import ClaudeSession, claude_env, user_line
from tests.support.fake_model import FakeModel
from tests.support.fake_model_fixtures import fake_model

__all__ = ["fake_model"]

pytestmark = [
    pytest.mark.skipif(bwrap_problem("bwrap") is not None, reason="bubblewrap cannot run here"),
    pytest.mark.skipif(
        not Path(default_claude_bin()).is_file(), reason="the pinned CLI is not installed"
    ),
]

#: A cold CLI start plus two model round trips, on a loaded machine.
TURN_TIMEOUT_S = 120.0


def test_the_claude_cli_and_its_bash_tool_run_confined(
    fake_model: FakeModel, tmp_path: Path
) -> None:
    secret = f"api-secret-{uuid.uuid4().hex}"
    api_stand_in = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"],
        env={**os.environ, "STAND_IN_SECRET": secret},
        stdin=subprocess.PIPE,
    )
    root = tmp_path / "workspaces"
    workspace = root / "feat_claude"
    workspace.mkdir(parents=True)
    outside = Path("/var/tmp") / f"claude-{uuid.uuid4().hex}"
    env = claude_env(fake_model, tmp_path / "home")
    env["CLAUDE_CONFIG_DIR"] = str(workspace / ".omakase" / "claude")
    command = (
        f"echo found=$(cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c {secret}); "
        f"touch {outside} 2>/dev/null && echo outside=written || echo outside=refused; "
        f'echo home=$HOME; touch "$HOME/x" && echo home=written'
    )
    session = ClaudeSession(env=env, cwd=workspace)
    settings = Settings(workspace_root=root, agent_sandbox=SandboxMode.BWRAP)
    session.argv = sandboxed(session.argv, settings=settings, workspace=workspace)
    assert session.argv[0] == "bwrap"
    try:
        with session:
            session.send(user_line(f"Check the box. [[bash: {command}]]"))
            result = session.wait_result(TURN_TIMEOUT_S)
            assert session.close() == 0
    finally:
        api_stand_in.communicate(b"")
    assert result.subtype == "success", result.data
    tool_results = [r.last_tool_result for r in fake_model.agent_requests if r.last_tool_result]
    assert tool_results, "the Bash tool never reported back"
    report = tool_results[-1]
    assert "found=0" in report
    assert "outside=refused" in report
    assert f"home={root / HOMES_DIR / 'feat_claude'}" in report
    assert "home=written" in report
    assert not outside.exists()
    assert (root / HOMES_DIR / "feat_claude" / "x").exists()
