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

import contextlib
import json
import shlex
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from api.agents.claude.effects import StoreEffects
from api.agents.claude.prompts import role_prompt
from api.agents.claude.session import LiveSession
from api.agents.claude.transport import ClaudeTransport, interrupt_line
from api.agents.claude.verdict import Verdict, step_verdict
from api.agents.mcp_config import ALLOWED_MCP_TOOLS, ASK_GUIDANCE, mcp_config
from api.agents.process import StepProcess
from api.agents.relay import FeatureRelay
from api.services.bus import MessageBus
from api.settings import Settings
from api.store.db import Db
from core.models import AgentMessage, AgentRun, AgentRunRole, AgentRunStatus, Feature
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
#: The CLI's own state (session files, settings) for this feature's steps.
CONFIG_DIR = ".omakase/claude"
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
    merged["CLAUDE_CONFIG_DIR"] = str(workspace / CONFIG_DIR)
    # Wait for the MCP server before the first model request: otherwise its tools may be
    # missing from that request ("still connecting"), measured in docs/CLAUDE_STREAM.md.
    merged["MCP_CONNECTION_NONBLOCKING"] = "0"
    return merged


@dataclass
class LiveStep:
    """A running claude step: its process, the session that talks to it, its bus listener."""

    process: StepProcess
    session: LiveSession
    transport: ClaudeTransport
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
        )

    def end(self) -> list[AgentMessage]:
        """Stop listening and writing; returns the messages the agent never took."""
        self._unsubscribe()
        self.session.stop()
        return self.session.untaken

    def cancel(self) -> None:
        """Interrupt the running turn (its tool is cut short), then end the process group."""
        with contextlib.suppress(Exception):
            self.transport.send(interrupt_line("cancel"))
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
    ask_guidance: str = ASK_GUIDANCE,
) -> LiveStep:
    """Start the CLI with its input open, write the role prompt, listen for the run's messages."""
    (workspace / CONFIG_DIR).mkdir(parents=True, exist_ok=True)
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
        env=claude_environment(env, workspace=workspace),
        cwd=workspace,
        stdin_pipe=True,
        stdout_lines=handle,
        on_eof=lambda: threading.Thread(target=output_ended, daemon=True).start(),
    )
    assert process.popen.stdin is not None
    transport = ClaudeTransport(process.popen.stdin)
    session = LiveSession(
        transport=transport,
        effects=StoreEffects(db, bus, run=run, relay=relay),
        prompt=role_prompt(run, feature, ask_guidance=ask_guidance),
        work_phase=WORK_PHASES[run.role],
    )
    holder["session"] = session

    def listen(message: AgentMessage) -> None:
        if message.run_id == run.id:
            session.offer(message, pushed=True)

    live = LiveStep(
        process=process, session=session, transport=transport, workspace=workspace, role=run.role
    )
    unsubscribe, release = bus.subscribe(listen), bus.take_live(run.id)

    def stop_listening() -> None:
        release()  # first: a steer POSTed from now on is stored queued (the relay's)
        unsubscribe()

    live._unsubscribe = stop_listening
    session.start()
    return live
