"""The pipeline's one dispatch to the live runners: the command line and the start of a step.

Why here: the pipeline starts a claude step and a codex step the same way
(``LiveStep``); what differs — the command line, the environment, the channel
on stdin — is each runner's business, chosen here by ``OMAKASE_RUNNER``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from api.agents.claude.runner import claude_argv
from api.agents.claude.runner import start_live_step as start_claude_step
from api.agents.codex.runner import codex_command, start_codex_step
from api.agents.live.step import LiveStep
from api.agents.relay import FeatureRelay
from api.agents.sandbox import sandboxed
from api.services.bus import MessageBus
from api.settings import RunnerKind, Settings
from api.store.db import Db
from core.models import AgentRun, Feature

LIVE_RUNNERS = frozenset({RunnerKind.CLAUDE, RunnerKind.CODEX})


def is_live(settings: Settings) -> bool:
    return settings.runner in LIVE_RUNNERS


def live_command(
    settings: Settings, *, env: dict[str, str], workspace: Path, hide: Sequence[Path] = ()
) -> list[str]:
    """The live step's sandboxed command line (the CLI and the MCP server it starts);
    ``hide`` as for ``sandboxed`` (the person's repository)."""
    if settings.runner is RunnerKind.CODEX:
        return codex_command(settings, env=env, workspace=workspace, hide=hide)
    argv = claude_argv(settings, mcp_env=env)
    return sandboxed(argv, settings=settings, workspace=workspace, hide=hide)


def start_live_step(
    settings: Settings,
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
) -> LiveStep:
    if settings.runner is RunnerKind.CODEX:
        return start_codex_step(
            db,
            bus,
            run=run,
            feature=feature,
            relay=relay,
            argv=argv,
            env=env,
            workspace=workspace,
            on_exit=on_exit,
        )
    return start_claude_step(
        db,
        bus,
        run=run,
        feature=feature,
        relay=relay,
        argv=argv,
        env=env,
        workspace=workspace,
        on_exit=on_exit,
    )
