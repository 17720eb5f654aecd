"""The step sandbox on its own: the bwrap command line, the mode setting, and real bwrap runs.

The end-to-end regression (a step of a real API reading ``/proc/*/environ``,
cancel leaving no orphan) is in ``test_sandbox_http.py``.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import api.agents.sandbox as sandbox_module
from api.agents.home import HOMES_DIR
from api.agents.sandbox import (
    DATA_DIR,
    SandboxPolicy,
    SandboxUnavailableError,
    active_policy,
    bwrap_problem,
    policy_for,
    sandbox_argv,
    sandboxed,
)
from api.settings import SandboxMode, Settings
from infra import run_local

MISSING_BWRAP = "/nonexistent/bwrap"
#: Longest a sandboxed snippet may take (a cold Python start in bwrap is well under it).
RUN_TIMEOUT_S = 30.0

needs_bwrap = pytest.mark.skipif(
    bwrap_problem("bwrap") is not None, reason="bubblewrap cannot run here (make setup installs it)"
)


@pytest.fixture(autouse=True)
def fresh_probe() -> Iterator[None]:
    """Each test sees the once-per-process probe and warning afresh."""
    bwrap_problem.cache_clear()
    yield
    bwrap_problem.cache_clear()


def flag_values(argv: list[str], flag: str, count: int = 1) -> list[tuple[str, ...]]:
    return [tuple(argv[i + 1 : i + 1 + count]) for i, a in enumerate(argv) if a == flag]


def test_the_command_line_hides_then_binds_then_remounts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Wherever this checkout lives (a clone under /tmp gets its code shown, see below).
    monkeypatch.setattr(sandbox_module, "REPO_ROOT", Path("/opt/omakase"))
    monkeypatch.setattr(sys, "prefix", "/opt/omakase/.venv")
    root, hidden_dir, hidden_file = tmp_path / "ws", tmp_path / "data", tmp_path / "token"
    hidden_dir.mkdir()
    hidden_file.write_text("secret")
    policy = SandboxPolicy(
        bwrap="/usr/bin/bwrap",
        workspace_root=root,
        hidden=(hidden_dir, hidden_file, tmp_path / "missing"),
    )
    argv = sandbox_argv(["agent", "--flag"], workspace=root / "feat_1", policy=policy)
    home = root / HOMES_DIR / "feat_1"

    assert argv[0] == "/usr/bin/bwrap"
    assert argv[-3:] == ["--", "agent", "--flag"]
    assert argv[1:4] == ["--ro-bind", "/", "/"]
    assert flag_values(argv, "--tmpfs") == [("/tmp",), (str(hidden_dir),), (str(root),)]
    assert flag_values(argv, "--ro-bind", 2) == [("/", "/"), ("/dev/null", str(hidden_file))]
    assert flag_values(argv, "--bind", 2) == [
        (str(root / "feat_1"),) * 2,
        (str(home),) * 2,
    ]
    assert flag_values(argv, "--remount-ro") == [(str(hidden_dir),), (str(root),)]
    last_tmpfs = max(i for i, a in enumerate(argv) if a == "--tmpfs")
    assert last_tmpfs < argv.index("--bind") < argv.index("--remount-ro")
    assert {"--unshare-pid", "--proc", "--dev"} <= set(argv)
    assert flag_values(argv, "--cap-drop") == [("ALL",)]
    assert flag_values(argv, "--setenv", 2) == [("HOME", str(home)), ("TMPDIR", "/tmp")]
    assert flag_values(argv, "--chdir") == [(str(root / "feat_1"),)]
    # Tied to the starting *thread*, which retires (see the module docstring).
    assert "--die-with-parent" not in argv
    # The step must stay in the process group that cancel and timeout signal.
    assert "--new-session" not in argv


def test_the_default_policy_hides_the_data_folder_and_the_token_file(tmp_path: Path) -> None:
    secret = tmp_path / "elsewhere-token"
    settings = Settings(workspace_root=tmp_path / "ws", sandbox_hide=[secret])
    policy = policy_for(settings, user_home=tmp_path / "home")

    assert DATA_DIR in policy.hidden
    assert run_local.TOKEN_FILE.is_relative_to(DATA_DIR)
    assert secret in policy.hidden
    assert tmp_path / "home" / ".aws" in policy.hidden
    assert policy.workspace_root == (tmp_path / "ws").resolve()
    # Workspaces are not under .data/ (by default, nor under make run).
    assert not Settings().workspace_root.resolve().is_relative_to(DATA_DIR)
    assert not run_local.WORKSPACES.is_relative_to(DATA_DIR)


def test_none_leaves_the_command_alone(tmp_path: Path) -> None:
    settings = Settings(agent_sandbox=SandboxMode.NONE, bwrap_bin=MISSING_BWRAP)
    assert sandboxed(["agent"], settings=settings, workspace=tmp_path) == ["agent"]


def test_auto_without_bwrap_runs_unsandboxed_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(agent_sandbox=SandboxMode.AUTO, bwrap_bin=MISSING_BWRAP)
    with caplog.at_level(logging.WARNING, logger="api.agents.sandbox"):
        argv = sandboxed(["agent"], settings=settings, workspace=tmp_path)
    assert argv == ["agent"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "WITHOUT a sandbox" in warnings[0]
    assert MISSING_BWRAP in warnings[0]


def test_bwrap_required_but_missing_is_a_clear_error(tmp_path: Path) -> None:
    settings = Settings(agent_sandbox=SandboxMode.BWRAP, bwrap_bin=MISSING_BWRAP)
    with pytest.raises(SandboxUnavailableError, match="OMAKASE_AGENT_SANDBOX=bwrap") as raised:
        sandboxed(["agent"], settings=settings, workspace=tmp_path)
    assert "was not found" in str(raised.value)
    assert "bubblewrap" in str(raised.value)


@needs_bwrap
def test_auto_uses_bwrap_where_it_works(tmp_path: Path) -> None:
    policy = active_policy(Settings(workspace_root=tmp_path))
    assert policy is not None
    assert policy.bwrap == "bwrap"


# --- real bwrap ---------------------------------------------------------------------

VIEW = """
import json, os, sys
from pathlib import Path
def attempt(action):
    try:
        action()
        return "ok"
    except OSError as error:
        return type(error).__name__
spec = json.loads(sys.argv[1])
print(json.dumps({
    "cwd": os.getcwd(),
    "home": os.environ["HOME"],
    "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    "caps": [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")][0],
    "root": sorted(os.listdir(spec["root"])),
    "hidden": sorted(os.listdir(spec["hidden"])),
    "writes": {p: attempt(lambda p=p: Path(p).write_text("x")) for p in spec["writes"]},
    "tmp": sorted(os.listdir("/tmp")),
}))
"""


def run_sandboxed(settings: Settings, workspace: Path, spec: dict[str, Any]) -> dict[str, Any]:
    argv = sandboxed(
        [sys.executable, "-c", VIEW, json.dumps(spec)], settings=settings, workspace=workspace
    )
    done = subprocess.run(
        argv, cwd=workspace, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


@needs_bwrap
def test_a_sandboxed_process_sees_and_writes_only_what_it_should(tmp_path: Path) -> None:
    root = tmp_path / "workspaces"
    mine, other = root / "feat_mine", root / "feat_other"
    for folder in (mine, other):
        folder.mkdir(parents=True)
    (other / "secret.md").write_text("the other feature's work")
    hidden = tmp_path / "engine-data"
    hidden.mkdir()
    (hidden / "db.sqlite").write_text("rows")
    marker = Path("/tmp") / f"host-only-{uuid.uuid4().hex}"
    marker.write_text("host")
    outside = Path("/var/tmp") / f"probe-{uuid.uuid4().hex}"  # not under the private /tmp
    settings = Settings(workspace_root=root, sandbox_hide=[hidden], agent_sandbox=SandboxMode.BWRAP)
    try:
        view = run_sandboxed(
            settings,
            mine,
            {
                "root": str(root),
                "hidden": str(hidden),
                "writes": [
                    str(mine / "work.md"),
                    str(root / HOMES_DIR / "feat_mine" / "cache"),
                    "/tmp/scratch",
                    str(outside),
                    str(other / "tampered.md"),
                    str(root / "feat_new.md"),
                    str(hidden / "db.sqlite"),
                    str(Path(__file__).resolve().parent / f"probe-{uuid.uuid4().hex}"),
                ],
            },
        )
    finally:
        marker.unlink()
    assert view["cwd"] == str(mine)
    assert view["home"] == str(root / HOMES_DIR / "feat_mine")
    assert view["pids"] == [1, 2]  # bwrap's init and the agent: nothing else
    assert int(view["caps"], 16) == 0
    # Private: the host's marker is not there (only mount points of tmp_path's folders).
    assert marker.name not in view["tmp"]
    assert "scratch" in view["tmp"]
    assert view["root"] == sorted([HOMES_DIR, "feat_mine"])  # not feat_other
    assert view["hidden"] == []
    writes = list(view["writes"].values())
    assert writes[:3] == ["ok", "ok", "ok"]
    assert "ok" not in writes[3:], view["writes"]
    assert (mine / "work.md").read_text() == "x"
    assert not Path("/tmp/scratch").exists()
    assert not outside.exists()
    assert not (other / "tampered.md").exists()
    assert (hidden / "db.sqlite").read_text() == "rows"


@needs_bwrap
def test_a_step_outlives_the_thread_that_started_it(tmp_path: Path) -> None:
    """PR_SET_PDEATHSIG follows the starting thread: steps start on retiring worker threads."""
    settings = Settings(workspace_root=tmp_path, agent_sandbox=SandboxMode.BWRAP)
    workspace = tmp_path / "feat_1"
    workspace.mkdir()
    code = "import sys; print('ready', flush=True); print(sys.stdin.readline().strip(), flush=True)"
    started: list[subprocess.Popen[str]] = []

    def start() -> None:
        argv = sandboxed([sys.executable, "-c", code], settings=settings, workspace=workspace)
        process = subprocess.Popen(
            argv,
            cwd=workspace,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n"  # bwrap's set-up is over
        started.append(process)

    thread = threading.Thread(target=start)
    thread.start()
    thread.join()
    process = started[0]
    out, _ = process.communicate("still here\n", timeout=RUN_TIMEOUT_S)
    assert (process.returncode, out) == (0, "still here\n")


@needs_bwrap
def test_a_program_under_tmp_is_shown_alone(tmp_path: Path) -> None:
    """A stand-in CLI in a test's tmp folder still runs; its neighbours stay hidden."""
    program = tmp_path / "stand-in-cli"
    program.write_text(
        f'#!/bin/sh\ntest -e "{tmp_path / "neighbour"}" && echo seen || echo alone\n'
    )
    program.chmod(0o755)
    (tmp_path / "neighbour").write_text("host file")
    workspace = tmp_path / "ws" / "feat_1"
    workspace.mkdir(parents=True)
    settings = Settings(workspace_root=tmp_path / "ws", agent_sandbox=SandboxMode.BWRAP)
    argv = sandboxed([str(program)], settings=settings, workspace=workspace)
    assert (str(program), str(program)) in flag_values(argv, "--ro-bind", 2)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
    assert (done.returncode, done.stdout) == (0, "alone\n"), done.stderr


@needs_bwrap
def test_a_checkout_under_tmp_still_runs_its_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: `make run` in a clone under /tmp failed every step ("bwrap: execvp
    <clone>/.venv/bin/python: No such file or directory"): the private /tmp hid the
    checkout, its venv and the demo agent. They are shown read-only; .data/ stays hidden."""
    checkout = tmp_path / "clone"
    (checkout / ".data").mkdir(parents=True)
    (checkout / ".data" / "api-token").write_text("secret")
    tool = checkout / "agent.sh"
    tool.write_text(
        f'#!/bin/sh\ncat "{checkout / "README"}"\n'
        f'cat "{checkout / ".data" / "api-token"}" 2>/dev/null || echo hidden\n'
    )
    tool.chmod(0o755)
    (checkout / "README").write_text("the code\n")
    monkeypatch.setattr(sandbox_module, "REPO_ROOT", checkout)
    monkeypatch.setattr(sandbox_module, "DATA_DIR", checkout / ".data")
    workspace = tmp_path / "ws" / "feat_1"
    workspace.mkdir(parents=True)
    settings = Settings(workspace_root=tmp_path / "ws", agent_sandbox=SandboxMode.BWRAP)
    argv = sandboxed(["/bin/sh", str(tool)], settings=settings, workspace=workspace)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
    assert (done.returncode, done.stdout) == (0, "the code\nhidden\n"), done.stderr
