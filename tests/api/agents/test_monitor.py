"""The monitor on real subprocesses (moto store): exit codes, timeout, a run ended elsewhere."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from api.agents.monitor import check_step
from api.agents.plan import Outcome
from api.agents.process import StepProcess
from api.agents.steps import ActiveStep
from api.services.bus import MessageBus
from api.services.status import report_status
from api.store.db import Db
from api.store.logs import list_logs
from api.store.messages import list_messages
from api.store.runs import create_run, get_run
from core.models import AgentRunCreate, AgentRunRole, AgentRunStatus

BUS = MessageBus()


async def start(db: Db, tmp_path: Path, role: AgentRunRole, code: str) -> ActiveStep:
    run = create_run(
        db, data=AgentRunCreate(project_id="prj_1", feature_id="feat_1", role=role, step=3)
    )
    process = StepProcess(db=db, run=run, argv=[sys.executable, "-c", code], env={}, cwd=tmp_path)
    loop = asyncio.get_running_loop()
    return ActiveStep(
        run=run, process=process, timeout_s=60.0, future=loop.create_future(), loop=loop
    )


async def conclude_when_done(db: Db, step: ActiveStep) -> Outcome:
    """Run monitor ticks until the step is concluded (the process needs a moment to exit)."""
    while not step.future.done():
        await asyncio.to_thread(check_step, db, BUS, step)
        await asyncio.sleep(0.02)
    return step.future.result()


async def test_exit_zero_completes_and_output_reaches_the_logs(moto_db: Db, tmp_path: Path) -> None:
    step = await start(moto_db, tmp_path, AgentRunRole.CODER, "print('hello from the agent')")
    assert await conclude_when_done(moto_db, step) is Outcome.COMPLETED
    assert get_run(moto_db, run_id=step.run.id).status is AgentRunStatus.COMPLETED
    lines = [line.line for line in list_logs(moto_db, run_id=step.run.id)]
    assert "hello from the agent" in lines
    assert lines[-1] == "■ step 3 (coder) exit code 0"
    notices = [m.content for m in list_messages(moto_db, run_id=step.run.id)]
    assert notices == ["Nori completed step 3"]


async def test_reviewer_exit_two_requests_changes(moto_db: Db, tmp_path: Path) -> None:
    step = await start(moto_db, tmp_path, AgentRunRole.REVIEWER, "raise SystemExit(2)")
    assert await conclude_when_done(moto_db, step) is Outcome.CHANGES_REQUESTED
    run = get_run(moto_db, run_id=step.run.id)
    assert run.status is AgentRunStatus.COMPLETED
    assert run.output_summary == "Requested changes (exit code 2); the coder revises."


async def test_other_exit_codes_fail_with_the_stderr_tail(moto_db: Db, tmp_path: Path) -> None:
    code = "import sys; print('db locked', file=sys.stderr); sys.exit(2)"
    step = await start(moto_db, tmp_path, AgentRunRole.CODER, code)
    assert await conclude_when_done(moto_db, step) is Outcome.FAILED
    run = get_run(moto_db, run_id=step.run.id)
    assert run.error_message == "The agent exited with code 2: db locked"


async def test_a_step_past_its_timeout_is_stopped(moto_db: Db, tmp_path: Path) -> None:
    step = await start(moto_db, tmp_path, AgentRunRole.TESTER, "import time; time.sleep(60)")
    step.process.started -= 120.0  # it has been running for two minutes
    assert await conclude_when_done(moto_db, step) is Outcome.FAILED
    assert step.process.poll() is not None
    run = get_run(moto_db, run_id=step.run.id)
    assert run.error_message == "Timed out after 60 s; the agent was stopped."


async def test_a_run_ended_elsewhere_stops_its_process(moto_db: Db, tmp_path: Path) -> None:
    step = await start(moto_db, tmp_path, AgentRunRole.CODER, "import time; time.sleep(60)")
    report_status(
        moto_db,
        BUS,
        run_id=step.run.id,
        status=AgentRunStatus.FAILED,
        error_message="Cancelled by user",
    )
    assert await conclude_when_done(moto_db, step) is Outcome.CANCELLED
    assert step.process.poll() is not None
