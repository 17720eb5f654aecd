"""Store contract for projects, features, agents and runs, on moto and the local engine."""

from __future__ import annotations

import pytest

from api.store.agents import list_agents, update_agent
from api.store.db import Db
from api.store.errors import ConditionFailed, ConflictError, NotFoundError
from api.store.features import create_feature, get_feature, list_features, update_feature
from api.store.projects import create_project, get_project, list_projects
from api.store.runs import (
    create_run,
    get_run,
    list_runs_for_feature,
    list_runs_for_project,
    set_read_cursor,
    set_run_status,
)
from core.models import (
    AgentRunCreate,
    AgentRunRole,
    AgentRunStatus,
    AgentStatus,
    FeatureCreate,
    FeatureStatus,
    ProjectCreate,
)


def test_project_round_trip_and_agents(db: Db) -> None:
    project = create_project(db, data=ProjectCreate(name="Demo", max_concurrency=3))
    assert get_project(db, project_id=project.id) == project
    assert project in list_projects(db)
    agents = list_agents(db, project_id=project.id)
    assert [a.name for a in agents] == ["Miso", "Nori", "Koji", "Toro"]


def test_missing_entities_raise_not_found_with_a_sentence(db: Db) -> None:
    with pytest.raises(NotFoundError, match=r"^Project prj_x was not found\.$"):
        get_project(db, project_id="prj_x")
    with pytest.raises(NotFoundError, match=r"^Feature feat_x was not found\.$"):
        get_feature(db, feature_id="feat_x")
    with pytest.raises(NotFoundError, match=r"^Agent run run_x was not found\.$"):
        get_run(db, run_id="run_x")


def test_features_by_project_and_guarded_update(db: Db) -> None:
    project = create_project(db, data=ProjectCreate(name="P"))
    a = create_feature(db, project_id=project.id, data=FeatureCreate(name="A"))
    b = create_feature(db, project_id=project.id, data=FeatureCreate(name="B", dependencies=[a.id]))
    assert [f.id for f in list_features(db, project_id=project.id)] == [a.id, b.id]
    claimed = update_feature(
        db,
        feature_id=a.id,
        status=FeatureStatus.IN_PROGRESS,
        condition="#status = :pending",
        condition_values={":pending": "pending"},
    )
    assert claimed.status is FeatureStatus.IN_PROGRESS
    with pytest.raises(ConditionFailed):
        update_feature(
            db,
            feature_id=a.id,
            status=FeatureStatus.IN_PROGRESS,
            condition="#status = :pending",
            condition_values={":pending": "pending"},
        )


def test_agent_update_tracks_current_and_last_run(db: Db) -> None:
    project = create_project(db, data=ProjectCreate(name="P"))
    running = update_agent(
        db,
        project_id=project.id,
        role=AgentRunRole.CODER,
        status=AgentStatus.RUNNING,
        current_run_id="run_1",
        current_feature_id="feat_1",
    )
    assert (running.current_run_id, running.last_run_id) == ("run_1", "run_1")
    idle = update_agent(
        db,
        project_id=project.id,
        role=AgentRunRole.CODER,
        status=AgentStatus.IDLE,
        current_run_id=None,
        current_feature_id=None,
    )
    assert (idle.status, idle.current_run_id, idle.last_run_id) == (AgentStatus.IDLE, None, "run_1")


def test_run_status_changes_once_and_never_after_it_ended(db: Db) -> None:
    run = create_run(
        db, data=AgentRunCreate(project_id="p", feature_id="f", role=AgentRunRole.CODER)
    )
    transition = set_run_status(db, run_id=run.id, status=AgentRunStatus.CODING)
    assert transition is not None
    assert (transition.previous, transition.run.status) == (
        AgentRunStatus.STARTED,
        AgentRunStatus.CODING,
    )
    assert set_run_status(db, run_id=run.id, status=AgentRunStatus.CODING) is None
    done = set_run_status(
        db, run_id=run.id, status=AgentRunStatus.COMPLETED, output_summary="shipped"
    )
    assert done is not None
    assert done.run.completed_at is not None
    assert done.run.output_summary == "shipped"
    assert get_run(db, run_id=run.id) == done.run
    with pytest.raises(ConflictError, match="has already ended"):
        set_run_status(db, run_id=run.id, status=AgentRunStatus.FAILED)
    with pytest.raises(NotFoundError):
        set_run_status(db, run_id="run_missing", status=AgentRunStatus.CODING)


def test_runs_listed_newest_first(db: Db) -> None:
    runs = [
        create_run(
            db,
            data=AgentRunCreate(project_id="p1", feature_id="f1", role=role, step=step),
        )
        for step, role in enumerate(AgentRunRole, start=1)
    ]
    newest_first = [r.id for r in reversed(runs)]
    assert [r.id for r in list_runs_for_project(db, project_id="p1")] == newest_first
    assert [r.id for r in list_runs_for_feature(db, feature_id="f1")] == newest_first


def test_read_marker_only_moves_forward(db: Db) -> None:
    run = create_run(
        db, data=AgentRunCreate(project_id="p", feature_id="f", role=AgentRunRole.CODER)
    )
    assert set_read_cursor(db, run_id=run.id, cursor="000000000005") == "000000000005"
    assert set_read_cursor(db, run_id=run.id, cursor="000000000003") == "000000000005"
    assert set_read_cursor(db, run_id=run.id, cursor="000000000009") == "000000000009"
    with pytest.raises(NotFoundError):
        set_read_cursor(db, run_id="run_missing", cursor="000000000001")
