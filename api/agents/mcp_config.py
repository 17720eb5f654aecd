"""How agent CLIs find the ``omakase`` MCP server: the config for one step, in each CLI's format.

Why the token is written out: the server runs as the agent CLI's child and must
reach our API as this run's agent; the run-scoped token (worth one run, see
``api.auth``) goes in the server's ``env``, never the operator token. The
variables are put in the config explicitly rather than trusting each CLI to
pass its own environment to stdio servers (they differ).

* the ``claude`` runner passes ``mcp_config(...)`` with ``--mcp-config <json>
  --strict-mcp-config`` and allows ``ALLOWED_MCP_TOOLS``;
* the ``command`` runner writes ``write_agent_configs(...)`` into the step's home
  (``api.agents.home``; never the workspace, which is the person's repository) at
  each step start: ``$CLAUDE_CONFIG_DIR/.claude.json`` for Claude Code,
  ``$CODEX_HOME/config.toml`` for Codex, ``~/.gemini/settings.json`` for Gemini
  CLI. Existing files keep their other entries.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from api.agents.home import AgentHome
from api.settings import RunnerKind, Settings

SERVER_NAME = "omakase"
SERVER_MODULE = "api.agents.mcp_server"
REPO_ROOT = Path(__file__).resolve().parents[2]
#: What the server needs from the step's environment (nothing else is passed).
SERVER_ENV_KEYS = (
    "OMAKASE_API_URL",
    "OMAKASE_RUN_ID",
    "OMAKASE_AGENT_TOKEN",
    "OMAKASE_ASK_TIMEOUT_SECONDS",
)
#: The tools as an agent CLI names them (``mcp__<server>__<tool>``): allow these.
MCP_TOOLS = ("ask_human", "send_message", "check_messages")
ALLOWED_MCP_TOOLS = [f"mcp__{SERVER_NAME}__{tool}" for tool in MCP_TOOLS]
#: A tool call may block for the whole ask timeout; CLIs get this much more.
TOOL_TIMEOUT_MARGIN_S = 60
DEFAULT_ASK_TIMEOUT_S = 900.0

#: For the role prompts: that the tools exist and when to use them.
ASK_GUIDANCE = """\
You can talk with the person who asked for this feature through your `omakase` tools:
* `ask_human(question, options)` asks them and waits for the answer (15 minutes by default).
  Ask only when a decision is theirs to make and guessing wrong would waste real work:
  a product choice, an ambiguous requirement, a trade-off they care about (e.g. "SQLite
  or Postgres?"). Ask one short, specific question at a time and offer 2-4 `options`
  when the answers are a choice. Never ask about things you can find out yourself (read
  the code, run the tests). If nobody answers in time, decide yourself and say what you
  chose and why.
* `check_messages()` returns messages the person sent you while you work: call it
  between larger pieces of work and follow what they say.
* `send_message(text)` tells them something worth knowing now (a decision, a blocker);
  keep it short. Your final answer reaches them anyway."""


def server_env(env: dict[str, str]) -> dict[str, str]:
    """The server's variables, taken from the step's environment."""
    picked = {key: env[key] for key in SERVER_ENV_KEYS if env.get(key)}
    missing = [key for key in SERVER_ENV_KEYS[:3] if key not in picked]
    if missing:
        raise ValueError(f"The step environment lacks {', '.join(missing)}.")
    existing = env.get("PYTHONPATH")
    # ``-m api.agents.mcp_server`` must resolve from the workspace (the server's cwd).
    picked["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + existing if existing else "")
    return picked


def server_entry(*, python: str, env: dict[str, str]) -> dict[str, Any]:
    """One stdio server entry (the shape Claude Code, Codex and Gemini CLI share)."""
    return {"command": python, "args": ["-m", SERVER_MODULE], "env": server_env(env)}


def mcp_config(*, python: str, env: dict[str, str]) -> dict[str, Any]:
    """The ``--mcp-config`` JSON for one step (Claude Code's ``.mcp.json`` shape)."""
    return {"mcpServers": {SERVER_NAME: server_entry(python=python, env=env)}}


def tool_timeout_s(env: dict[str, str]) -> int:
    ask = float(env.get("OMAKASE_ASK_TIMEOUT_SECONDS") or DEFAULT_ASK_TIMEOUT_S)
    return int(ask) + TOOL_TIMEOUT_MARGIN_S


# --- files in the workspace ------------------------------------------------------------


def _write_private(path: Path, text: str) -> None:
    """Atomic, owner-only (the file holds the run's token)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    temporary.replace(path)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _merge_json(path: Path, key: str, entry: dict[str, Any]) -> None:
    """Set ``document[key][omakase] = entry``, keeping everything else in the file."""
    document = _read_json(path)
    servers = document.get(key)
    document[key] = {**(servers if isinstance(servers, dict) else {}), SERVER_NAME: entry}
    _write_private(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        pairs = ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + pairs + " }"
    raise TypeError(f"no TOML form for {type(value).__name__}")


#: Our table and its sub-tables in a Codex config, up to the next other table.
_CODEX_SECTION = re.compile(
    rf"^\[mcp_servers\.{SERVER_NAME}(\.[^\]]+)?\]\n(?:(?!\[).*\n?)*", re.MULTILINE
)


def codex_section(entry: dict[str, Any], *, timeout_s: int) -> str:
    lines = [f"[mcp_servers.{SERVER_NAME}]"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in entry.items()]
    lines += ["startup_timeout_sec = 30", f"tool_timeout_sec = {timeout_s}"]
    return "\n".join(lines) + "\n"


def codex_inline_table(entry: dict[str, Any], *, timeout_s: int) -> str:
    """The server's entry as the TOML value of ``-c mcp_servers.omakase=…`` (codex runner)."""
    table = {**entry, "startup_timeout_sec": 30, "tool_timeout_sec": timeout_s}
    return _toml_value(table)


def write_agent_configs(home: AgentHome, *, python: str, env: dict[str, str]) -> list[Path]:
    """Write the server's entry into every common agent CLI's *user* config in the step's
    home (never the workspace: the person's ``.mcp.json`` or ``.codex/`` stay theirs)."""
    entry = server_entry(python=python, env=env)
    timeout_s = tool_timeout_s(env)
    # Claude Code's user-scope servers (``$CLAUDE_CONFIG_DIR/.claude.json``): no approval prompt.
    claude = home.claude_dir / ".claude.json"
    _merge_json(claude, "mcpServers", entry)
    codex = home.codex_home / "config.toml"
    current = codex.read_text(encoding="utf-8") if codex.exists() else ""
    kept = _CODEX_SECTION.sub("", current).rstrip()
    _write_private(
        codex, (kept + "\n\n" if kept else "") + codex_section(entry, timeout_s=timeout_s)
    )
    gemini = home.path / ".gemini" / "settings.json"
    _merge_json(gemini, "mcpServers", {**entry, "timeout": timeout_s * 1000, "trust": True})
    return [claude, codex, gemini]


def write_step_mcp_files(settings: Settings, workspace: Path, env: dict[str, str]) -> None:
    """The ``command`` runner's step start: the config files any agent CLI reads."""
    if settings.runner is RunnerKind.COMMAND:
        write_agent_configs(AgentHome.of(workspace).make(), python=sys.executable, env=env)
