"""A step's command line and environment: its own run token, never the operator's secrets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from api.agents.environment import (
    DEMO_MODULE,
    MAX_ENV_MESSAGES_BYTES,
    RunnerConfigError,
    StepLaunch,
    messages_env_value,
    step_argv,
    step_environment,
)
from api.auth import authenticate
from api.settings import RunnerKind, Settings
from core.models import AgentRun, AgentRunRole, Feature

SECRET = b"agent-secret"
RUN = AgentRun(
    id="run_1",
    project_id="prj_1",
    feature_id="feat_1",
    role=AgentRunRole.CODER,
    step=2,
    started_at="t",
    updated_at="t",
)
FEATURE = Feature(
    id="feat_1", project_id="prj_1", name="Login", description="d", created_at="t", updated_at="t"
)


def launch(tmp_path: Path) -> StepLaunch:
    records = [{"id": "msg_1", "runId": "run_0", "content": "hi", "timestamp": "t"}]
    return StepLaunch(run=RUN, feature=FEATURE, workspace=tmp_path, user_messages=records)


def test_environment_has_the_contract_and_no_secrets(tmp_path: Path) -> None:
    settings = Settings(api_token="operator-secret", api_port=9999)
    base = {
        "PATH": "/usr/bin",
        "OMAKASE_API_TOKEN": "operator-secret",
        "OMAKASE_AGENT_TOKEN_SECRET": "s",
        "AWS_SECRET_ACCESS_KEY": "k",
        "AWS_REGION": "eu-west-1",
    }
    env = step_environment(settings, agent_secret=SECRET, launch=launch(tmp_path), base=base)
    assert "operator-secret" not in env.values()
    assert "OMAKASE_AGENT_TOKEN_SECRET" not in env
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert env["AWS_REGION"] == "eu-west-1"
    assert env["PATH"] == "/usr/bin"
    assert env["OMAKASE_API_URL"] == "http://127.0.0.1:9999"
    assert (env["OMAKASE_RUN_ID"], env["OMAKASE_ROLE"], env["OMAKASE_STEP"]) == (
        "run_1",
        "coder",
        "2",
    )
    assert (env["OMAKASE_FEATURE_ID"], env["OMAKASE_PROJECT_ID"]) == ("feat_1", "prj_1")
    assert env["OMAKASE_WORKSPACE"] == str(tmp_path)
    assert json.loads(env["OMAKASE_USER_MESSAGES"])[0]["content"] == "hi"
    principal = authenticate(
        f"Bearer {env['OMAKASE_AGENT_TOKEN']}", api_token="operator-secret", agent_secret=SECRET
    )
    assert principal.is_agent
    assert principal.run_id == "run_1"


def test_demo_and_command_runners() -> None:
    assert step_argv(Settings()) == [sys.executable, "-m", DEMO_MODULE]
    command = Settings(runner=RunnerKind.COMMAND, agent_command="claude -p 'do the step' --x")
    assert step_argv(command) == ["claude", "-p", "do the step", "--x"]
    with pytest.raises(RunnerConfigError, match="needs OMAKASE_AGENT_COMMAND"):
        step_argv(Settings(runner=RunnerKind.COMMAND))


def test_huge_batches_are_clipped_to_fit_the_environment() -> None:
    records = [{"id": f"m{i}", "content": "z" * 30_000} for i in range(10)]
    value = messages_env_value(records)
    assert len(value.encode()) <= MAX_ENV_MESSAGES_BYTES
    assert [r["id"] for r in json.loads(value)] == [f"m{i}" for i in range(10)]
    assert "$OMAKASE_USER_MESSAGES_FILE" in json.loads(value)[0]["content"]


def test_two_long_emoji_messages_still_start_a_process() -> None:
    """Regression: the budget was in characters; 2 × 32,000 emoji is 256 KB, over the
    kernel's 128 KiB per environment string (E2BIG: the step failed to start)."""
    records = [{"id": f"m{i}", "content": "🍣" * 32_000} for i in range(2)]
    value = messages_env_value(records)
    assert len(value.encode()) <= MAX_ENV_MESSAGES_BYTES
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(len(os.environ['OMAKASE_USER_MESSAGES']))"],
        env={"OMAKASE_USER_MESSAGES": value},
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(done.stdout) == len(value)
    assert [r["id"] for r in json.loads(value)] == ["m0", "m1"]


def test_too_many_messages_to_list_point_to_the_file() -> None:
    records = [{"id": f"m{i}", "content": "x" * 100} for i in range(3_000)]
    value = messages_env_value(records)
    assert len(value.encode()) <= MAX_ENV_MESSAGES_BYTES
    assert json.loads(value) == [
        {"truncated": True, "count": 3_000, "file": "$OMAKASE_USER_MESSAGES_FILE"}
    ]
