"""Starting a claude step: the command line, the environment, the live session around it.

Why these flags: ``-p`` with ``--input-format stream-json`` keeps the CLI
reading user messages from stdin for as long as we keep it open (one process
per step, many turns); ``--output-format stream-json --verbose`` reports every
content block as it happens; ``--replay-user-messages`` echoes each user message
when the CLI takes it into the conversation — the agent's own delivery receipt.
As root, ``--dangerously-skip-permissions`` is refused, so the tools a coding
step needs are allowed by name (in ``-p`` mode anything else is denied, never
asked).
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

from api.agents.claude.transport import ClaudeChannel
from api.agents.home import AgentHome
from api.agents.live.channel import JsonLines
from api.agents.live.step import LiveStep
from api.agents.live.step import start_live_step as start_step
from api.agents.mcp_config import ALLOWED_MCP_TOOLS, ASK_GUIDANCE, mcp_config
from api.agents.relay import FeatureRelay
from api.services.bus import MessageBus
from api.settings import Settings
from api.store.db import Db
from core.models import AgentRun, Feature
from infra.claude_cli import default_claude_bin

STREAM_FLAGS = (
    "-p",
    "--input-format",
    "stream-json",
    "--output-format",
    "stream-json",
    "--verbose",
    "--replay-user-messages",
)
#: What a coding step needs (tests, builds, reading and editing files).
DEFAULT_ALLOWED_TOOLS = ("Bash", "Read", "Edit", "MultiEdit", "Write", "Glob", "Grep", "TodoWrite")
#: Quiet, offline-friendly defaults (the operator's own values win).
CLI_ENV_DEFAULTS = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_TELEMETRY": "1",
}


def claude_argv(settings: Settings, *, mcp_env: dict[str, str] | None = None) -> list[str]:
    """The CLI's command line; with ``mcp_env`` (the step's environment), exactly our
    ``omakase`` MCP server (``--strict-mcp-config``) and its tools allowed."""
    binary = settings.claude_bin or default_claude_bin()
    tools: tuple[str, ...] = DEFAULT_ALLOWED_TOOLS
    mcp: list[str] = []
    if mcp_env is not None:
        config = mcp_config(python=sys.executable, env=mcp_env)
        mcp = ["--mcp-config", json.dumps(config), "--strict-mcp-config"]
        tools = (*tools, *ALLOWED_MCP_TOOLS)
    return [
        binary,
        *STREAM_FLAGS,
        "--allowedTools",
        ",".join(tools),
        *mcp,
        *shlex.split(settings.claude_args),
    ]


def claude_environment(env: dict[str, str], *, workspace: Path) -> dict[str, str]:
    merged = {**CLI_ENV_DEFAULTS, **env}
    merged.setdefault("CLAUDE_CONFIG_DIR", str(AgentHome.of(workspace).claude_dir))
    # Wait for the MCP server before the first model request: otherwise its tools may be
    # missing from that request ("still connecting"), measured in docs/CLAUDE_STREAM.md.
    merged["MCP_CONNECTION_NONBLOCKING"] = "0"
    return merged


def start_live_step(
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
    """A claude step: the CLI with its input open, the role prompt its first user line."""
    AgentHome.of(workspace).make()
    return start_step(
        db,
        bus,
        run=run,
        feature=feature,
        relay=relay,
        argv=argv,
        env=claude_environment(env, workspace=workspace),
        workspace=workspace,
        on_exit=on_exit,
        channel_for=lambda stdin: ClaudeChannel(JsonLines(stdin)),
        ask_guidance=ask_guidance,
    )
