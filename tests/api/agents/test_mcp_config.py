"""The ``omakase`` server's config for each agent CLI, and the files the command runner writes."""

from __future__ import annotations

import json
import stat
import sys
import tomllib
from pathlib import Path

import pytest

from api.agents.home import AgentHome
from api.agents.mcp_config import (
    ALLOWED_MCP_TOOLS,
    REPO_ROOT,
    mcp_config,
    write_agent_configs,
    write_step_mcp_files,
)
from api.settings import RunnerKind, Settings

STEP_ENV = {
    "OMAKASE_API_URL": "http://127.0.0.1:8765",
    "OMAKASE_RUN_ID": "run_1",
    "OMAKASE_AGENT_TOKEN": "oma_agent.run_1.mac",
    "OMAKASE_ASK_TIMEOUT_SECONDS": "900.0",
    "OMAKASE_FEATURE_NAME": "not passed on",
    "HOME": "/root",
}


def test_the_config_passes_only_the_servers_variables() -> None:
    config = mcp_config(python="/usr/bin/python3", env=STEP_ENV)
    entry = config["mcpServers"]["omakase"]
    assert entry["command"] == "/usr/bin/python3"
    assert entry["args"] == ["-m", "api.agents.mcp_server"]
    assert entry["env"] == {
        "OMAKASE_API_URL": "http://127.0.0.1:8765",
        "OMAKASE_RUN_ID": "run_1",
        "OMAKASE_AGENT_TOKEN": "oma_agent.run_1.mac",
        "OMAKASE_ASK_TIMEOUT_SECONDS": "900.0",
        "PYTHONPATH": str(REPO_ROOT),
    }
    assert ALLOWED_MCP_TOOLS == [
        "mcp__omakase__ask_human",
        "mcp__omakase__send_message",
        "mcp__omakase__check_messages",
    ]


def test_a_step_env_without_the_token_is_refused() -> None:
    env = {k: v for k, v in STEP_ENV.items() if k != "OMAKASE_AGENT_TOKEN"}
    with pytest.raises(ValueError, match="lacks OMAKASE_AGENT_TOKEN"):
        mcp_config(python="python3", env=env)


def test_the_files_every_agent_cli_reads_are_in_the_steps_home(tmp_path: Path) -> None:
    home = AgentHome(tmp_path / "home").make()
    (home.claude_dir / ".claude.json").write_text(
        json.dumps({"mcpServers": {"mine": {"command": "x"}}})
    )
    (home.codex_home / "config.toml").write_text(
        'model = "o3"\n\n[mcp_servers.omakase]\ncommand = "old"\n\n[mcp_servers.other]\n'
        'command = "y"\n'
    )
    written = write_agent_configs(home, python=sys.executable, env=STEP_ENV)
    write_agent_configs(home, python=sys.executable, env=STEP_ENV)  # the next step

    claude = json.loads((home.claude_dir / ".claude.json").read_text())
    assert set(claude["mcpServers"]) == {"mine", "omakase"}
    assert claude["mcpServers"]["omakase"]["env"]["OMAKASE_RUN_ID"] == "run_1"

    codex = tomllib.loads((home.codex_home / "config.toml").read_text())
    assert codex["model"] == "o3"
    assert set(codex["mcp_servers"]) == {"omakase", "other"}
    ours = codex["mcp_servers"]["omakase"]
    assert ours["command"] == sys.executable
    assert ours["args"] == ["-m", "api.agents.mcp_server"]
    assert ours["env"]["OMAKASE_AGENT_TOKEN"] == "oma_agent.run_1.mac"
    assert ours["tool_timeout_sec"] == 960

    gemini = json.loads((home.path / ".gemini" / "settings.json").read_text())
    assert gemini["mcpServers"]["omakase"]["timeout"] == 960_000
    for path in written:  # they hold the run's token
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_only_the_command_runner_writes_them_and_never_into_the_workspace(tmp_path: Path) -> None:
    workspace = tmp_path / "feat_1"
    workspace.mkdir()
    (workspace / ".mcp.json").write_text('{"the person": "their own"}')
    home = AgentHome.of(workspace)
    write_step_mcp_files(Settings(runner=RunnerKind.DEMO), workspace, STEP_ENV)
    assert not (home.claude_dir / ".claude.json").exists()
    write_step_mcp_files(
        Settings(runner=RunnerKind.COMMAND, agent_command="agent"), workspace, STEP_ENV
    )
    assert (home.claude_dir / ".claude.json").exists()
    assert sorted(p.name for p in workspace.iterdir()) == [".mcp.json"]
    assert (workspace / ".mcp.json").read_text() == '{"the person": "their own"}'
