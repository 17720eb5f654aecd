"""What a step's process gets: its command line and its environment.

Why scrubbed: an agent is untrusted code acting on a user's behalf. It gets a
token for its own run only (``mint_agent_token``), never the operator token,
the agent-token secret or the store's AWS credentials; anything it needs from
the service goes through the API with that token.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.agents.home import AgentHome
from api.auth import mint_agent_token
from api.settings import RunnerKind, Settings
from core.agents import persona
from core.models import AgentRun, Feature

#: Inherited variables an agent must never see (prefix match).
SECRET_PREFIXES = ("OMAKASE_", "AWS_")
#: Inherited variables that are fine to keep although they match a prefix.
KEPT_VARIABLES = frozenset({"AWS_REGION", "AWS_DEFAULT_REGION"})
#: Largest OMAKASE_USER_MESSAGES value in UTF-8 bytes: Linux caps one environment
#: string ("NAME=value") at 128 KiB (MAX_ARG_STRLEN), and an emoji is 4 bytes, so the
#: budget is in bytes, not characters. Beyond it contents are clipped and the complete
#: batch is in the messages file (OMAKASE_USER_MESSAGES_FILE).
MAX_ENV_MESSAGES_BYTES = 100_000
#: The smallest share of a message's content kept when clipping.
MIN_CLIPPED_CHARS = 50
MESSAGES_FILE = "$OMAKASE_USER_MESSAGES_FILE"
DEMO_MODULE = "api.agents.demo_agent"
REPO_ROOT = Path(__file__).resolve().parents[2]


class RunnerConfigError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class StepLaunch:
    run: AgentRun
    feature: Feature
    workspace: Path
    #: The user messages newly relayed to this step (OMAKASE_USER_MESSAGES records).
    user_messages: list[dict[str, Any]]


def step_argv(settings: Settings) -> list[str]:
    if settings.runner is RunnerKind.DEMO:
        return [sys.executable, "-m", DEMO_MODULE]
    if not settings.agent_command or not settings.agent_command.strip():
        raise RunnerConfigError(
            "OMAKASE_RUNNER=command needs OMAKASE_AGENT_COMMAND (the agent command line)."
        )
    return shlex.split(settings.agent_command)


def _encoded_size(records: list[dict[str, Any]]) -> int:
    return len(json.dumps(records, ensure_ascii=False).encode())


def messages_env_value(records: list[dict[str, Any]]) -> str:
    """The JSON for OMAKASE_USER_MESSAGES, clipped to fit one environment string."""
    if _encoded_size(records) <= MAX_ENV_MESSAGES_BYTES:
        return json.dumps(records, ensure_ascii=False)
    note = f"…[truncated; the whole message is in {MESSAGES_FILE}]"
    share = MAX_ENV_MESSAGES_BYTES // max(1, len(records))
    while True:
        # Characters, then checked in bytes: halve the share until the batch fits.
        clipped = [
            r | {"content": r["content"][:share] + note} if len(r["content"]) > share else r
            for r in records
        ]
        if _encoded_size(clipped) <= MAX_ENV_MESSAGES_BYTES or share <= MIN_CLIPPED_CHARS:
            break
        share //= 2
    if _encoded_size(clipped) > MAX_ENV_MESSAGES_BYTES:  # too many messages to list at all
        pointer = {"truncated": True, "count": len(records), "file": MESSAGES_FILE}
        return json.dumps([pointer])
    return json.dumps(clipped, ensure_ascii=False)


def step_environment(
    settings: Settings, *, agent_secret: bytes, launch: StepLaunch, base: dict[str, str]
) -> dict[str, str]:
    env = {
        key: value
        for key, value in base.items()
        if key in KEPT_VARIABLES or not key.startswith(SECRET_PREFIXES)
    }
    run, feature = launch.run, launch.feature
    env.update(
        {
            "OMAKASE_API_URL": settings.base_url,
            "OMAKASE_RUN_ID": run.id,
            "OMAKASE_AGENT_TOKEN": mint_agent_token(agent_secret, run.id),
            "OMAKASE_FEATURE_ID": feature.id,
            "OMAKASE_FEATURE_NAME": feature.name,
            "OMAKASE_FEATURE_DESCRIPTION": feature.description,
            "OMAKASE_PROJECT_ID": run.project_id,
            "OMAKASE_ROLE": run.role.value,
            "OMAKASE_AGENT_NAME": persona(run.role).name,
            "OMAKASE_AGENT_MASCOT": persona(run.role).mascot,
            "OMAKASE_STEP": str(run.step),
            "OMAKASE_ATTEMPT": str(run.attempt),
            "OMAKASE_USER_MESSAGES": messages_env_value(launch.user_messages),
            "OMAKASE_WORKSPACE": str(launch.workspace),
            "OMAKASE_DEMO_STEP_SECONDS": str(settings.demo_step_seconds),
            "OMAKASE_ASK_TIMEOUT_SECONDS": str(settings.ask_timeout_seconds),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(AgentHome.of(launch.workspace).environment())
    if settings.runner is RunnerKind.DEMO:
        # The demo agent is a module of this repository; the workspace is its cwd.
        existing = base.get("PYTHONPATH")
        env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + existing if existing else "")
    return env
