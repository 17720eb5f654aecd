"""One feature's pipeline in the process that claimed it: run steps until the feature is done.

Each step is its own agent run: created and announced ("started" notice), the
pending user messages relayed into it (``api.agents.relay``), its CLAUDE.md
guidance section rewritten and its inbox emptied, its process started
(``api.agents.process``). The monitor loop concludes the step when the process
exits; ``api.agents.plan`` decides what runs next. The checkpoint is saved on
the feature item at each step start, so a pipeline resumes after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path
from typing import Protocol

from anyio import to_thread

from api.agents.environment import (
    RunnerConfigError,
    StepLaunch,
)
from api.agents.guidance import StepContext, render_section, write_atomically, write_guidance
from api.agents.home import AgentHome
from api.agents.inbox import write_inbox
from api.agents.launch import launch_step
from api.agents.live.runners import is_live
from api.agents.plan import Checkpoint, Decision, Outcome, decide
from api.agents.process import StepProcess
from api.agents.relay import FeatureRelay
from api.agents.repository import FeatureRepository, StepStart
from api.agents.steps import ActiveStep, StepNotStarted, outcome_of
from api.git.cli import GitError
from api.services.bus import MessageBus
from api.services.status import announce, report_status
from api.settings import RunnerKind, Settings
from api.store.agents import release_agent, update_agent
from api.store.claims import FeatureClaim, finish_pipeline, save_checkpoint
from api.store.db import Db
from api.store.errors import ConflictError
from api.store.runs import create_run, get_run, list_runs_for_feature
from core.agents import persona
from core.models import (
    AgentRun,
    AgentRunCreate,
    AgentRunStatus,
    AgentStatus,
    FeatureStatus,
)

log = logging.getLogger(__name__)

#: The demo agent's step timeout: generous multiples of its step length.
DEMO_TIMEOUT_FACTOR = 10.0
DEMO_TIMEOUT_MIN_S = 120.0
#: A real agent's step timeout.
COMMAND_STEP_TIMEOUT_S = 3600.0


class PipelineHost(Protocol):
    """What a pipeline needs from the process that runs it (the supervisor)."""

    db: Db
    bus: MessageBus
    settings: Settings
    agent_secret: bytes
    owner_id: str
    workspace_root: Path

    def register(self, step: ActiveStep) -> None: ...

    def unregister(self, step: ActiveStep) -> None: ...

    def wake(self, step: ActiveStep) -> None:
        """The step's process has ended: conclude it now rather than at the next tick."""
        ...


def step_timeout(settings: Settings) -> float:
    if settings.runner is RunnerKind.DEMO:
        return max(DEMO_TIMEOUT_MIN_S, DEMO_TIMEOUT_FACTOR * settings.demo_step_seconds)
    return COMMAND_STEP_TIMEOUT_S


class FeaturePipeline:
    def __init__(self, host: PipelineHost, claim: FeatureClaim, *, takeover_error: str) -> None:
        self.host = host
        self.feature = claim.feature
        self.checkpoint = Checkpoint.from_item(claim.checkpoint)
        #: The error a run left active by the previous owner is failed with.
        self.takeover_error = takeover_error
        self.relay = FeatureRelay(
            host.db,
            host.bus,
            feature_id=self.feature.id,
            owner_id=host.owner_id,
            relay_cursors=claim.relay_cursors,
        )
        self.active: ActiveStep | None = None
        #: Ids of the messages the workspace's inbox file lists now.
        self.inbox_ids: tuple[str, ...] = ()
        self.workspace = host.workspace_root / self.feature.id
        self.home = AgentHome.of(self.workspace)
        self._repository: FeatureRepository | None = None

    @property
    def feature_id(self) -> str:
        return self.feature.id

    @property
    def repository(self) -> FeatureRepository:
        """The feature's branch and workspace (made at first use: it reads the project)."""
        if self._repository is None:
            self._repository = FeatureRepository(
                self.host.db,
                self.host.bus,
                self.host.settings,
                feature=self.feature,
                workspace=self.workspace,
            )
        return self._repository

    # --- the loop -------------------------------------------------------------------

    async def run(self) -> None:
        decision = await to_thread.run_sync(self._resume)
        while decision.next is not None:
            current = decision.next
            outcome, detail = await self._run_step(current)
            decision = decide(current, outcome, detail)
            log.info(
                "feature %s: step %d %s -> %s",
                self.feature_id,
                current.step,
                current.role.value,
                outcome.value,
            )
        await to_thread.run_sync(self._finish, decision)

    def _resume(self) -> Decision:
        """Adopt the feature's existing runs; conclude a step the previous owner left open."""
        runs = sorted(
            list_runs_for_feature(self.host.db, feature_id=self.feature_id),
            key=lambda r: (r.step, r.attempt, r.started_at),
        )
        current = self.checkpoint
        if current.run_id is not None and current.run_id not in {r.id for r in runs}:
            runs.append(get_run(self.host.db, run_id=current.run_id))  # the GSI may lag
        for run in runs:
            self.relay.add_run(run)
            if run.is_active:
                self._fail_quietly(run.id, self.takeover_error)
                self.set_agent_idle(run, AgentStatus.STOPPED)
        if current.run_id is None:
            return Decision(next=current)
        run = get_run(self.host.db, run_id=current.run_id)
        outcome = outcome_of(run) or Outcome.INTERRUPTED
        return decide(current, outcome, run.error_message or "")

    def _fail_quietly(self, run_id: str, message: str) -> None:
        with contextlib.suppress(ConflictError):  # it ended meanwhile
            report_status(
                self.host.db,
                self.host.bus,
                run_id=run_id,
                status=AgentRunStatus.FAILED,
                error_message=message,
            )

    async def _run_step(self, current: Checkpoint) -> tuple[Outcome, str]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        # The step registers itself with the host as soon as its process exists, so a
        # shutdown that cancels this task still finds (and interrupts) it.
        step = await to_thread.run_sync(self._start_step, current, future, loop)
        if isinstance(step, StepNotStarted):
            return step.outcome, step.detail
        outcome = await future
        self.host.unregister(step)
        self.active = None
        await to_thread.run_sync(self._agent_after, step.run, outcome)
        return outcome, step.detail

    # --- a step's start and end (blocking: worker threads) --------------------------

    def _start_step(
        self,
        current: Checkpoint,
        future: asyncio.Future[Outcome],
        loop: asyncio.AbstractEventLoop,
    ) -> ActiveStep | StepNotStarted:
        db, bus = self.host.db, self.host.bus
        # Still ours? (A process that was paused past the stale threshold has been
        # replaced: it must not create a run for a pipeline it no longer owns.)
        save_checkpoint(
            db,
            feature_id=self.feature_id,
            owner_id=self.host.owner_id,
            checkpoint=current.to_item(),
            current_step=current.step,
            current_run_id=None,
        )
        run = create_run(
            db,
            data=AgentRunCreate(
                project_id=self.feature.project_id,
                feature_id=self.feature_id,
                role=current.role,
                step=current.step,
                attempt=current.attempt,
                live=is_live(self.host.settings),
            ),
        )
        self.relay.add_run(run)
        save_checkpoint(
            db,
            feature_id=self.feature_id,
            owner_id=self.host.owner_id,
            checkpoint={**current.to_item(), "run_id": run.id},
            current_step=current.step,
            current_run_id=run.id,
        )
        announce(db, bus, run=run)
        update_agent(
            db,
            project_id=run.project_id,
            role=run.role,
            status=AgentStatus.RUNNING,
            current_run_id=run.id,
            current_feature_id=self.feature_id,
        )
        try:
            start = self.repository.begin(run)
        except (GitError, OSError) as error:
            message = f"Could not prepare the workspace: {error}"
            self._fail_quietly(run.id, message)
            self._agent_after(run, Outcome.FAILED)
            return StepNotStarted(Outcome.FAILED, message)
        batch = self.relay.batch_for_step()
        records = [self.relay.record(m, run) for m in batch]
        self.home.make()
        context = StepContext(
            agent_name=persona(run.role).name,
            role=run.role.value,
            step=run.step,
            feature_name=self.feature.name,
        )
        write_guidance(self.home.guidance, render_section(context, self.relay.guidance()))
        write_inbox(self.home.state, [])
        self.inbox_ids = ()
        write_atomically(
            self.home.user_messages,
            json.dumps(records, indent=2, ensure_ascii=False) + "\n",
        )
        holder: list[ActiveStep] = []
        settings = self.host.settings
        try:
            process, live = launch_step(
                settings,
                db,
                bus,
                launch=StepLaunch(
                    run=run, feature=self.feature, workspace=self.workspace, user_messages=records
                ),
                relay=self.relay,
                agent_secret=self.host.agent_secret,
                hide=self.repository.hidden(),
                on_exit=lambda: self._wake(holder),
            )
        except (RunnerConfigError, OSError, ValueError) as error:
            message = f"Could not start the agent: {error}"
            self._fail_quietly(run.id, message)
            self._agent_after(run, Outcome.FAILED)
            return StepNotStarted(Outcome.FAILED, message)
        # Receipts only now: a step that could not start claimed no delivery.
        delivered = self.relay.deliver_to_step(run, batch)
        process.pump.system(
            f"▶ step {run.step} ({run.role.value}, attempt {run.attempt}) started: "
            f"{len(delivered)} relayed message(s), pid {process.pid}"
        )
        step = ActiveStep(
            run=run,
            process=process,
            timeout_s=step_timeout(settings),
            future=future,
            loop=loop,
            live=live,
            commit=lambda: self._commit(run, start, process),
        )
        holder.append(step)
        self.active = step
        self.host.register(step)
        return step

    def _commit(self, run: AgentRun, start: StepStart, process: StepProcess) -> None:
        """The step's end, whatever its outcome: its work becomes a commit on the branch."""
        self.repository.end(run, start, say=process.pump.system)

    def refresh_inbox(self) -> None:
        """Monitor tick: poll the feature's user messages; keep the running step's inbox
        file current (blocking; the lock keeps it apart from a step start)."""
        with self.relay.lock:
            step = self.active
            if step is None or step.concluding or step.live is not None:
                # A live step hears its messages through its session, not the inbox file.
                self.relay.poll()
                return
            messages = self.relay.deliver_to_inbox(step.run)
            ids = tuple(m.id for m in messages)
            if ids != self.inbox_ids:  # what the file holds (emptied at each step start)
                write_inbox(self.home.state, messages)
                self.inbox_ids = ids

    def _wake(self, holder: list[ActiveStep]) -> None:
        if holder:  # the process can end before its ActiveStep exists (start failed)
            self.host.wake(holder[0])

    def _agent_after(self, run: AgentRun, outcome: Outcome) -> None:
        status = {
            Outcome.FAILED: AgentStatus.FAILED,
            Outcome.CANCELLED: AgentStatus.STOPPED,
            Outcome.INTERRUPTED: AgentStatus.STOPPED,
        }.get(outcome, AgentStatus.IDLE)
        self.set_agent_idle(run, status)

    def set_agent_idle(self, run: AgentRun, status: AgentStatus) -> None:
        """The agent is free again, unless another feature's run took it over meanwhile
        (a conditional write: read-then-write would race that run's start)."""
        release_agent(
            self.host.db, project_id=run.project_id, role=run.role, run_id=run.id, status=status
        )

    def _finish(self, decision: Decision) -> None:
        self.relay.close_undelivered()
        status = decision.final or FeatureStatus.FAILING
        finish_pipeline(
            self.host.db,
            feature_id=self.feature_id,
            owner_id=self.host.owner_id,
            status=status,
            error_message=decision.error,
        )
        log.info("feature %s finished: %s %s", self.feature_id, status.value, decision.error or "")
