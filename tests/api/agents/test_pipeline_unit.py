"""The pipeline's step start without a subprocess: a step whose agent cannot start.

On moto, with the ``command`` runner and no command configured, ``_start_step``
must fail the run with a sentence, free the agent, and leave the feature's
pending messages exactly as they were (no receipt, no cursor moved): the next
attempt gets them. Its typed result is ``StepNotStarted``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from api.agents.pipeline import FeaturePipeline
from api.agents.plan import Checkpoint, Outcome
from api.agents.steps import ActiveStep, StepNotStarted
from api.services.bus import MessageBus
from api.settings import RunnerKind, Settings
from api.store.agents import list_agents
from api.store.claims import claim_pending, read_claim
from api.store.db import Db
from api.store.features import create_feature
from api.store.messages import create_message, find_message
from api.store.projects import create_project
from api.store.runs import create_run, get_run
from core.models import (
    AgentRunCreate,
    AgentRunRole,
    AgentRunStatus,
    AgentStatus,
    DeliveryReceipt,
    FeatureCreate,
    MessageSender,
    ProjectCreate,
    ReceiptState,
)

OWNER = "wrk_unit"


@dataclass
class Host:
    """What a pipeline needs from its process, without loops or subprocesses."""

    db: Db
    workspace_root: Path
    bus: MessageBus = field(default_factory=MessageBus)
    settings: Settings = field(
        default_factory=lambda: Settings(runner=RunnerKind.COMMAND, agent_command=None)
    )
    agent_secret: bytes = b"unit-test-secret"
    owner_id: str = OWNER
    registered: list[ActiveStep] = field(default_factory=list)

    def register(self, step: ActiveStep) -> None:
        self.registered.append(step)

    def unregister(self, step: ActiveStep) -> None:
        self.registered.remove(step)

    def wake(self, step: ActiveStep) -> None:
        raise AssertionError("no process ran, nothing to wake")


def test_a_step_that_cannot_start_fails_its_run_and_keeps_the_messages(
    moto_db: Db, tmp_path: Path
) -> None:
    project = create_project(moto_db, data=ProjectCreate(name="unit"))
    feature = create_feature(moto_db, project_id=project.id, data=FeatureCreate(name="Login"))
    claim = claim_pending(moto_db, feature_id=feature.id, owner_id=OWNER)
    assert claim is not None
    architect = create_run(
        moto_db,
        data=AgentRunCreate(
            project_id=project.id, feature_id=feature.id, role=AgentRunRole.ARCHITECT
        ),
    )
    message, _ = create_message(
        moto_db,
        run=architect,
        sender=MessageSender.USER,
        content="use SQLite",
        receipt=DeliveryReceipt(state=ReceiptState.QUEUED),
    )
    host = Host(db=moto_db, workspace_root=tmp_path)
    pipeline = FeaturePipeline(host, claim, takeover_error="taken over")
    pipeline.relay.add_run(architect)
    loop = asyncio.new_event_loop()
    try:
        started = pipeline._start_step(
            Checkpoint(step=2, role=AgentRunRole.CODER), loop.create_future(), loop
        )
    finally:
        loop.close()

    assert isinstance(started, StepNotStarted)
    assert started.outcome is Outcome.FAILED
    assert started.detail == (
        "Could not start the agent: OMAKASE_RUNNER=command needs OMAKASE_AGENT_COMMAND "
        "(the agent command line)."
    )
    assert host.registered == []
    assert pipeline.active is None
    [coder_run_id] = [
        r
        for r in (read_claim(moto_db, feature_id=feature.id).checkpoint or {}).values()
        if isinstance(r, str) and r.startswith("run_")
    ]
    coder = get_run(moto_db, run_id=coder_run_id)
    assert (coder.role, coder.status, coder.error_message) == (
        AgentRunRole.CODER,
        AgentRunStatus.FAILED,
        started.detail,
    )
    coder_agent = next(
        a for a in list_agents(moto_db, project_id=project.id) if a.role is coder.role
    )
    assert (coder_agent.status, coder_agent.current_run_id) == (AgentStatus.FAILED, None)
    # The message was not delivered and no cursor moved: the next attempt gets it.
    stored = find_message(moto_db, run_id=architect.id, message_id=message.id)
    assert stored is not None
    assert stored.receipt is not None
    assert stored.receipt.state is ReceiptState.QUEUED
    assert read_claim(moto_db, feature_id=feature.id).relay_cursors == {}
    assert [m.id for m in pipeline.relay.batch_for_step()] == [message.id]
