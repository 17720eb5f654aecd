"""A step's process in a bubblewrap sandbox: what an agent can see, write and signal.

Why: an agent runs whatever a model decides, as the API's own OS user. Without
isolation it can read ``/proc/<api pid>/environ`` (the operator token and the
agent-token secret), the token file and the local engine's data under
``.data/``, the other features' workspaces, and write anywhere the API can.
``sandbox_argv`` wraps the step's command line in ``bwrap`` so that:

* it has its own PID namespace and ``/proc``: no other process of the machine
  is visible, and when the step ends (or is cancelled) the kernel ends every
  process left inside, including ones that left the process group;
* the whole file system is read-only; writable are only the feature's
  workspace, a per-feature HOME (``<workspace_root>/.homes/<feature>``) and a
  private ``/tmp``;
* ``.data/``, well-known credential stores of the API user's home and
  ``OMAKASE_SANDBOX_HIDE`` are replaced by empty read-only folders (a file by
  ``/dev/null`` on a ``nodev`` mount: it cannot be opened at all), and so are
  the other features' workspaces and homes;
* no capabilities, even when the API runs as root.

The network is shared on purpose: the agent must reach the API and the model
endpoint. Not used, and why: ``--die-with-parent`` ties bwrap to the *thread*
that started it (``PR_SET_PDEATHSIG``), and steps start on worker threads that
come and go, so a step would be killed when its starting thread retires;
``--new-session`` is unneeded because the step already runs in a session of
its own without a controlling terminal (``start_new_session``), and without it
the agent stays in the process group that cancel and timeout signal.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from api.agents.environment import REPO_ROOT, RunnerConfigError
from api.agents.home import AgentHome
from api.settings import SandboxMode, Settings

log = logging.getLogger(__name__)

#: The local engine's data and the operator token file (``infra/run_local.py``).
DATA_DIR = REPO_ROOT / ".data"
#: Per-feature HOME folders live here, inside the workspace root, beside the workspaces.
#: Credential stores in the API user's home that an agent has no business reading.
HOME_SECRETS = (
    ".aws",
    ".ssh",
    ".gnupg",
    ".docker",
    ".kube",
    ".netrc",
    ".git-credentials",
    ".config/gh",
    # Codex's state and sign-in: a codex step sees only auth.json, read-only
    # (``api.agents.codex.runner``), never the person's sessions or config.
    ".codex",
)
#: The sandbox's own /tmp: an empty tmpfs, never the host's (hence no S108 risk).
PRIVATE_TMP = "/tmp"  # noqa: S108
#: npm's package folder: a CLI installed there needs all of it (``_installation``).
NODE_MODULES = "node_modules"
#: Longest first line read for a script's ``#!`` interpreter.
MAX_SHEBANG_BYTES = 256
#: Longest the one-time "does bwrap work here?" probe may take.
PROBE_TIMEOUT_S = 10.0
#: Namespaces and privileges, the same for the probe and every step.
ISOLATION = ("--unshare-pid", "--unshare-ipc", "--cap-drop", "ALL")
BASE_MOUNTS = ("--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", PRIVATE_TMP)


class SandboxUnavailableError(RunnerConfigError):
    """``OMAKASE_AGENT_SANDBOX=bwrap`` but bubblewrap cannot run here."""


@dataclass(frozen=True, slots=True)
class SandboxPolicy:
    """What every step of this API process gets: the binary, the root, the hidden paths."""

    bwrap: str
    #: Absolute; every feature's workspace is a folder directly inside it.
    workspace_root: Path
    #: Absolute paths replaced by something empty (those missing at step start are skipped).
    hidden: tuple[Path, ...]

    def home_for(self, workspace: Path) -> Path:
        """The feature's HOME: outside its workspace, so agent caches never land in the work."""
        return AgentHome.of(workspace).path


def policy_for(settings: Settings, *, user_home: Path | None = None) -> SandboxPolicy:
    home = user_home or Path.home()
    hidden = [DATA_DIR, *(home / name for name in HOME_SECRETS), *settings.sandbox_hide]
    return SandboxPolicy(
        bwrap=settings.bwrap_bin,
        workspace_root=Path(settings.workspace_root).resolve(),
        hidden=tuple(dict.fromkeys(path.resolve() for path in hidden)),
    )


def _present(paths: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """The hidden folders and files that exist now (a missing one has nothing to hide)."""
    shown = [path for path in paths if path.exists()]
    return [p for p in shown if p.is_dir()], [p for p in shown if not p.is_dir()]


def _interpreter(script: Path) -> Path | None:
    """The interpreter a ``#!`` script names (``#!/usr/bin/env node``: node on PATH)."""
    try:
        with script.open("rb") as handle:
            first = handle.readline(MAX_SHEBANG_BYTES).decode(errors="replace")
    except OSError:
        return None
    if not first.startswith("#!"):
        return None
    words = first[2:].split()
    if not words:
        return None
    if Path(words[0]).name == "env":
        names = [w for w in words[1:] if not w.startswith("-")]
        found = shutil.which(names[0]) if names else None
        return Path(found) if found else None
    return Path(words[0])


def _installation(program: Path) -> list[Path]:
    """What running ``program`` needs: itself (the link too), the package it lives in, and
    its interpreter with the prefix that interpreter was installed in.

    An npm CLI is a link in ``node_modules/.bin`` to a script in its package, which
    loads sibling packages (codex's native binary is one): the enclosing
    ``node_modules`` folder is the installation. Its ``#!/usr/bin/env node`` needs
    node, shown with its prefix (``<prefix>/bin/node`` → ``<prefix>``).
    """
    target = program.resolve()
    found = [program, target]
    for path in (program, target):
        modules = next((p for p in path.parents if p.name == NODE_MODULES), None)
        if modules is not None:
            found.append(modules)
    interpreter = _interpreter(target)
    if interpreter is not None:
        found += [interpreter, interpreter.resolve(), interpreter.resolve().parent.parent]
    return found


def _code_in_tmp(argv: Sequence[str]) -> list[Path]:
    """What the step runs from, when it lives under /tmp: shown read-only.

    The private /tmp would hide it and the step would fail with bwrap's "No such
    file or directory": a checkout cloned under /tmp (its venv, the pinned CLI, the
    demo agent, the MCP server), a CLI installed there (``OMAKASE_CLAUDE_BIN`` /
    ``OMAKASE_CODEX_BIN``: its whole installation, see ``_installation``) or a
    test's stand-in CLI. Bound before the hidden paths, so ``.data/`` inside such a
    checkout stays hidden. Paths are kept as named (a link stays a link's path:
    bwrap shows the file it points to there).
    """
    candidates = [REPO_ROOT.resolve(), Path(sys.prefix).resolve()]
    named = argv[0] if argv else ""
    located = named if "/" in named else shutil.which(named) if named else None
    if located:
        program = Path(os.path.abspath(located))
        if program.is_file():
            candidates += _installation(program)
    under_tmp = sorted(
        {Path(os.path.abspath(p)) for p in candidates if p.is_relative_to(PRIVATE_TMP)}
    )
    # A path inside another one is shown by that one.
    return [p for p in under_tmp if not any(p != o and p.is_relative_to(o) for o in under_tmp)]


def sandbox_argv(
    argv: Sequence[str],
    *,
    workspace: Path,
    policy: SandboxPolicy,
    read_only: Sequence[tuple[Path, Path]] = (),
) -> list[str]:
    """``argv`` run by bwrap with the policy's view of the machine; cwd = the workspace.

    Order matters: bwrap applies its options one by one, so the read-only root
    comes first (with the code under /tmp shown again over the private /tmp),
    then the empty folders over hidden paths and the workspace root, then the two
    writable binds on top, then ``read_only`` (source, target) files over them
    (e.g. a sign-in shown inside the writable HOME), and the read-only remounts
    last (a remount does not reach the binds mounted inside it). A bind's source
    is read from the real file system, so a hidden folder can still lend one file.
    """
    workspace = workspace.resolve()
    home = policy.home_for(workspace)
    folders, files = _present(policy.hidden)
    empty = [*folders, policy.workspace_root]
    code = _code_in_tmp(argv)
    return [
        policy.bwrap,
        *BASE_MOUNTS,
        *(part for path in code for part in ("--ro-bind", str(path), str(path))),
        *(part for path in empty for part in ("--tmpfs", str(path))),
        *(part for path in files for part in ("--ro-bind", "/dev/null", str(path))),
        *(part for path in (workspace, home) for part in ("--bind", str(path), str(path))),
        *(part for src, dst in read_only for part in ("--ro-bind", str(src), str(dst))),
        *(part for path in empty for part in ("--remount-ro", str(path))),
        *ISOLATION,
        "--chdir",
        str(workspace),
        "--setenv",
        "HOME",
        str(home),
        "--setenv",
        "TMPDIR",
        PRIVATE_TMP,
        "--",
        *argv,
    ]


@cache
def bwrap_problem(bwrap: str) -> str | None:
    """Why bwrap cannot sandbox here (``None``: it can). Probed once per process and binary."""
    try:
        done = subprocess.run(
            [bwrap, *BASE_MOUNTS, *ISOLATION, "--", "true"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=PROBE_TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError:
        return f"{bwrap!r} was not found (install the Debian package bubblewrap: make setup)"
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"{bwrap!r} could not run: {error}"
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip() or f"exit code {done.returncode}"
        return f"{bwrap!r} failed its probe: {reason}"
    return None


@cache
def _warn_unsandboxed(problem: str) -> None:
    log.warning(
        "agent steps run WITHOUT a sandbox (OMAKASE_AGENT_SANDBOX=auto): %s; "
        "agents can read what the API's user can read",
        problem,
    )


def active_policy(settings: Settings) -> SandboxPolicy | None:
    """The policy steps run under now, or ``None`` for no sandbox.

    Raises ``SandboxUnavailableError`` when bwrap is required and cannot run.
    """
    if settings.agent_sandbox is SandboxMode.NONE:
        return None
    problem = bwrap_problem(settings.bwrap_bin)
    if problem is None:
        return policy_for(settings)
    if settings.agent_sandbox is SandboxMode.BWRAP:
        raise SandboxUnavailableError(
            f"OMAKASE_AGENT_SANDBOX=bwrap but the sandbox cannot start: {problem}. "
            "Fix that, or set OMAKASE_AGENT_SANDBOX=auto or none."
        )
    _warn_unsandboxed(problem)
    return None


def hideable(path: Path, *, workspace: Path) -> bool:
    """A path may be hidden unless that would hide what the step needs: its workspace,
    the service's code or interpreter (a person's repository holding the checkout)."""
    path = path.resolve()
    needed = (workspace.resolve(), REPO_ROOT, Path(sys.prefix).resolve())
    return not any(item == path or item.is_relative_to(path) for item in needed)


def sandboxed(
    argv: Sequence[str],
    *,
    settings: Settings,
    workspace: Path,
    hide: Sequence[Path] = (),
    read_only: Sequence[tuple[Path, Path]] = (),
) -> list[str]:
    """The command line a step runs: ``argv`` in the sandbox the settings ask for.

    ``hide``: more paths for this step only (the person's repository: an agent sees
    its workspace, never the repository the service commits into). ``read_only``:
    (source, target) files shown read-only at target (a codex sign-in).
    """
    policy = active_policy(settings)
    if policy is None:
        return list(argv)
    extra = tuple(p.resolve() for p in hide if hideable(p, workspace=workspace))
    if extra:
        policy = dataclasses.replace(policy, hidden=(*policy.hidden, *extra))
    policy.home_for(workspace.resolve()).mkdir(parents=True, exist_ok=True)
    return sandbox_argv(argv, workspace=workspace, policy=policy, read_only=read_only)
