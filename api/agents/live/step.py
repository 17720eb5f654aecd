"""A live step: the agent's process, the session that talks to it, its bus listener.

Why one module for every live runner: the pipeline and the monitor treat a
claude step and a codex step alike — start it with the role prompt, hear the
run's messages on the bus, end it (returning what the agent never took, for
the relay), cancel it (interrupt first), read its verdict. Only the channel
(what goes on the wire) and the environment differ; the runner gives both.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from api.agents.claude.prompts import role_prompt
from api.agents.live.channel import AgentChannel
from api.agents.live.effects import StoreEffects
from api.agents.live.session import LiveSession
from api.agents.live.verdict import Verdict, step_verdict
from api.agents.mcp_config import ASK_GUIDANCE
from api.agents.process import StepProcess
from api.agents.relay import FeatureRelay
from api.services.bus import MessageBus
from api.store.db import Db
from core.models import AgentMessage, AgentRun, AgentRunRole, AgentRunStatus, Feature

#: Cancel: how long the interrupt may take before the process group is ended.
CANCEL_INTERRUPT_GRACE_S = 1.0
#: After the output ends, how long to wait for the process to exit before concluding.
EXIT_WAIT_S = 5.0

#: The phase a role works in once it uses its tools.
WORK_PHASES: dict[AgentRunRole, AgentRunStatus] = {
    AgentRunRole.ARCHITECT: AgentRunStatus.THINKING,
    AgentRunRole.CODER: AgentRunStatus.CODING,
    AgentRunRole.REVIEWER: AgentRunStatus.REVIEWING,
    AgentRunRole.TESTER: AgentRunStatus.TESTING,
}

#: Makes the runner's channel on the process's stdin.
ChannelFactory = Callable[[IO[bytes]], AgentChannel]


@dataclass
class LiveStep:
    """A running live step (claude or codex)."""

    process: StepProcess
    session: LiveSession
    channel: AgentChannel
    workspace: Path
    role: AgentRunRole
    _unsubscribe: Callable[[], None] = field(default=lambda: None, repr=False)

    def verdict(self, exit_code: int) -> Verdict:
        return step_verdict(
            self.role,
            exit_code=exit_code,
            failure=self.session.failure,
            final_text=self.session.final_text,
            workspace=self.workspace,
            agent=self.channel.name,
        )

    def end(self) -> list[AgentMessage]:
        """Stop listening and writing; returns the messages the agent never took."""
        self._unsubscribe()
        self.session.stop()
        return self.session.untaken

    def cancel(self) -> None:
        """Interrupt the running turn (its tool is cut short), then end the process group."""
        with contextlib.suppress(Exception):
            self.channel.interrupt("cancel")
        with contextlib.suppress(Exception):
            self.process.popen.wait(timeout=CANCEL_INTERRUPT_GRACE_S)
        self.end()
        self.process.stop()


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
    channel_for: ChannelFactory,
    ask_guidance: str = ASK_GUIDANCE,
) -> LiveStep:
    """Start the CLI with its input open, begin the role prompt, listen for the run's messages."""
    holder: dict[str, LiveSession] = {}

    def handle(line: str) -> list[str]:
        return holder["session"].handle_line(line)

    def output_ended() -> None:
        with contextlib.suppress(Exception):
            process.popen.wait(timeout=EXIT_WAIT_S)
        on_exit()

    process = StepProcess(
        db=db,
        run=run,
        argv=argv,
        env=env,
        cwd=workspace,
        stdin_pipe=True,
        stdout_lines=handle,
        on_eof=lambda: threading.Thread(target=output_ended, daemon=True).start(),
    )
    assert process.popen.stdin is not None
    channel = channel_for(process.popen.stdin)
    session = LiveSession(
        channel=channel,
        effects=StoreEffects(db, bus, run=run, relay=relay),
        prompt=role_prompt(run, feature, ask_guidance=ask_guidance),
        work_phase=WORK_PHASES[run.role],
    )
    holder["session"] = session

    def listen(message: AgentMessage) -> None:
        if message.run_id == run.id:
            session.offer(message, pushed=True)

    live = LiveStep(
        process=process, session=session, channel=channel, workspace=workspace, role=run.role
    )
    unsubscribe, release = bus.subscribe(listen), bus.take_live(run.id)

    def stop_listening() -> None:
        release()  # first: a steer POSTed from now on is stored queued (the relay's)
        unsubscribe()

    live._unsubscribe = stop_listening
    session.start()
    return live
