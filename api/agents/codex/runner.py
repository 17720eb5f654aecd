"""Starting a codex step: ``codex app-server`` on stdio, its environment, its login.

Why app-server (not ``codex exec``): it keeps one thread open for the whole step
and takes messages mid-turn — ``turn/steer`` lands a message at the next tool
boundary and codex echoes our id when it does (docs/AGENTS.md "Codex"). Why
codex's own sandbox is off (``danger-full-access``, approvals ``never``): the
step already runs in our bubblewrap sandbox, which is what limits it; codex's
Linux sandbox would nest a second one (user namespaces inside bwrap fail) and
an approval prompt would wait for a person who is not at a terminal.

Its state (``CODEX_HOME``) lives in the feature's HOME, outside the workspace,
so nothing of ours lands in the user's repository. The login is either
``OPENAI_API_KEY`` (kept in the step's environment) or the person's ChatGPT
sign-in: ``auth.json`` of their own CODEX_HOME, shown to the step read-only at
the same place in the step's CODEX_HOME — never copied, never writable.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from api.agents.codex.channel import CodexChannel
from api.agents.guidance import extract_section, write_atomically
from api.agents.home import AgentHome
from api.agents.live.channel import JsonLines
from api.agents.live.step import LiveStep
from api.agents.live.step import start_live_step as start_step
from api.agents.mcp_config import (
    ASK_GUIDANCE,
    SERVER_NAME,
    codex_inline_table,
    server_entry,
    tool_timeout_s,
)
from api.agents.relay import FeatureRelay
from api.agents.sandbox import active_policy, sandboxed
from api.services.bus import MessageBus
from api.settings import Settings
from api.store.db import Db
from core.models import AgentRun, Feature
from infra.codex_cli import default_codex_bin

#: The person's own CODEX_HOME when the variable is unset (``~/.codex``).
CODEX_HOME_DIR = ".codex"
AUTH_FILE = "auth.json"
#: Codex's global instructions file in its CODEX_HOME (read at each thread start).
INSTRUCTIONS_FILE = "AGENTS.md"


def codex_argv(settings: Settings, *, mcp_env: dict[str, str]) -> list[str]:
    """``codex app-server`` with exactly our ``omakase`` MCP server, then the person's flags."""
    binary = settings.codex_bin or default_codex_bin()
    entry = server_entry(python=sys.executable, env=mcp_env)
    table = codex_inline_table(entry, timeout_s=tool_timeout_s(mcp_env))
    return [
        binary,
        "app-server",
        "-c",
        f"mcp_servers.{SERVER_NAME}={table}",
        *shlex.split(settings.codex_args),
    ]


def step_codex_home(workspace: Path) -> Path:
    """The step's CODEX_HOME: in the feature's agent home, outside the workspace."""
    return AgentHome.of(workspace.resolve()).codex_home


def person_auth_file(environ: dict[str, str] | None = None) -> Path:
    """The person's ChatGPT sign-in: ``auth.json`` of their CODEX_HOME (default ~/.codex)."""
    environ = dict(os.environ) if environ is None else environ
    home = environ.get("CODEX_HOME") or str(Path.home() / CODEX_HOME_DIR)
    return Path(home).expanduser() / AUTH_FILE


def codex_command(
    settings: Settings, *, env: dict[str, str], workspace: Path, hide: Sequence[Path] = ()
) -> list[str]:
    """The step's command line, sandboxed, with the sign-in (if any) shown read-only."""
    home = step_codex_home(workspace)
    home.mkdir(parents=True, exist_ok=True)
    argv = codex_argv(settings, mcp_env=env)
    auth = person_auth_file()
    target = home / AUTH_FILE
    if not auth.is_file():
        return sandboxed(argv, settings=settings, workspace=workspace, hide=hide)
    if active_policy(settings) is None:
        # No sandbox: the agent can read what the API's user can anyway; a link keeps
        # the one sign-in (no copy of the token lying in the homes folder).
        if not target.is_symlink():
            target.unlink(missing_ok=True)
            target.symlink_to(auth)
        return sandboxed(argv, settings=settings, workspace=workspace, hide=hide)
    if target.is_symlink():
        target.unlink()
    target.touch(exist_ok=True)  # the mount point of the read-only bind
    return sandboxed(
        argv, settings=settings, workspace=workspace, hide=hide, read_only=[(auth, target)]
    )


def give_guidance(workspace: Path, codex_home: Path) -> None:
    """The feature's user guidance, where codex reads it: ``$CODEX_HOME/AGENTS.md``.

    The pipeline writes the guidance section (every user message of the feature
    so far, fenced) into Claude Code's user memory (``AgentHome.guidance``); codex
    reads AGENTS.md instead, and its global one lives in CODEX_HOME — in the agent
    home too, so nothing of ours lands in the user's repository.
    """
    source = AgentHome.of(workspace.resolve()).guidance
    document = source.read_text(encoding="utf-8") if source.is_file() else ""
    section = extract_section(document)
    target = codex_home / INSTRUCTIONS_FILE
    if section is None:
        target.unlink(missing_ok=True)
    else:
        write_atomically(target, section + "\n")


def codex_environment(env: dict[str, str], *, codex_home: Path) -> dict[str, str]:
    return {**env, "CODEX_HOME": str(codex_home)}


def start_codex_step(
    db: Db,
    bus: MessageBus,
    *,
    run: AgentRun,
    feature: Feature,
    relay: FeatureRelay,
    argv: list[str],
    env: dict[str, str],
    workspace: Path,
    on_exit: Callable[[], None],
    ask_guidance: str = ASK_GUIDANCE,
) -> LiveStep:
    """A codex step: app-server started, the role prompt its first turn."""
    codex_home = step_codex_home(workspace)
    give_guidance(workspace, codex_home)
    return start_step(
        db,
        bus,
        run=run,
        feature=feature,
        relay=relay,
        argv=argv,
        env=codex_environment(env, codex_home=codex_home),
        workspace=workspace,
        on_exit=on_exit,
        channel_for=lambda stdin: CodexChannel(
            JsonLines(stdin), cwd=str(workspace.resolve()), mcp_server=SERVER_NAME
        ),
        ask_guidance=ask_guidance,
    )
