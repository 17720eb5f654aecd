"""The supervisor in-process on moto: a pipeline that keeps crashing fails its feature."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from api.agents.pipeline import FeaturePipeline
from api.agents.supervisor import MAX_PIPELINE_CRASHES, AgentSupervisor
from api.runtime import build_runtime
from api.settings import Settings
from api.store.claims import read_claim
from api.store.db import Db
from api.store.features import create_feature, get_feature
from api.store.projects import create_project
from api.store.workers import read_heartbeat
from core.models import FeatureCreate, FeatureStatus, ProjectCreate
from tests.conftest import TOKEN

DEADLINE_S = 30.0


async def test_a_pipeline_that_keeps_crashing_fails_its_feature(
    moto_db: Db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def crash(self: FeaturePipeline) -> None:
        raise RuntimeError("a bug in the pipeline")

    monkeypatch.setattr(FeaturePipeline, "run", crash)
    settings = Settings(api_token=TOKEN, workspace_root=tmp_path, monitor_interval_seconds=0.05)
    supervisor = AgentSupervisor(build_runtime(settings, moto_db))
    project = create_project(moto_db, data=ProjectCreate(name="crashy"))
    feature = create_feature(moto_db, project_id=project.id, data=FeatureCreate(name="f"))
    await supervisor.start()
    try:
        assert read_heartbeat(moto_db, worker_id=supervisor.owner_id) is not None
        deadline = time.monotonic() + DEADLINE_S
        while get_feature(moto_db, feature_id=feature.id).status is not FeatureStatus.FAILING:
            assert time.monotonic() < deadline, "the feature never failed"
            await asyncio.sleep(0.05)
    finally:
        await supervisor.stop()
    failed = get_feature(moto_db, feature_id=feature.id)
    assert failed.error_message == (
        f"The pipeline crashed {MAX_PIPELINE_CRASHES} times: a bug in the pipeline"
    )
    assert read_claim(moto_db, feature_id=feature.id).owner_id is None
    assert read_heartbeat(moto_db, worker_id=supervisor.owner_id) is None  # clean stop
