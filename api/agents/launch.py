"""A step's process started: its environment, its command line in the sandbox, the live session.

Apart from the pipeline (which decides *when* a step runs and what it is told)
so that the one place that knows how each runner starts stays small: the demo
and command runners are a plain ``StepProcess``; a live runner (claude, codex)
is a process kept open with its session listening for the run's messages.
Raises ``RunnerConfigError``, ``OSError`` or ``ValueError`` when the step
cannot start (the pipeline fails its run with the sentence).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from api.agents.environment import StepLaunch, step_argv, step_environment
from api.agents.live.runners import is_live, live_command, start_live_step
from api.agents.live.step import LiveStep
from api.agents.mcp_config import write_step_mcp_files
from api.agents.process import StepProcess
from api.agents.relay import FeatureRelay
from api.agents.sandbox import sandboxed
from api.services.bus import MessageBus
from api.settings import Settings
from api.store.db import Db


def launch_step(
    settings: Settings,
    db: Db,
    bus: MessageBus,
    *,
    launch: StepLaunch,
    relay: FeatureRelay,
    agent_secret: bytes,
    hide: Sequence[Path],
    on_exit: Callable[[], None],
) -> tuple[StepProcess, LiveStep | None]:
    run, workspace = launch.run, launch.workspace
    env = step_environment(
        settings, agent_secret=agent_secret, launch=launch, base=dict(os.environ)
    )
    write_step_mcp_files(settings, workspace, env)
    if not is_live(settings):
        argv = sandboxed(step_argv(settings), settings=settings, workspace=workspace, hide=hide)
        return StepProcess(db=db, run=run, argv=argv, env=env, cwd=workspace), None
    # A live CLI and the MCP server it starts share the step's sandbox.
    argv = live_command(settings, env=env, workspace=workspace, hide=hide)
    live = start_live_step(
        settings,
        db,
        bus,
        run=run,
        feature=launch.feature,
        relay=relay,
        argv=argv,
        env=env,
        workspace=workspace,
        on_exit=on_exit,
    )
    return live.process, live
