"""Admission on the project item: a size-guarded set of feature ids (issue 13 item 3)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from api.agents.watcher import find_work, repair_admissions
from api.store.admission import admit, admitted, readmit, release
from api.store.claims import claim_pending, finish_pipeline
from api.store.db import Db
from api.store.features import create_feature, list_features
from api.store.projects import create_project
from api.store.workers import beat
from core.models import FeatureCreate, FeatureStatus, Project, ProjectCreate

RACERS = 8


def project_with(db: Db, features: int, max_concurrency: int = 2) -> tuple[Project, list[str]]:
    project = create_project(db, data=ProjectCreate(name="p", max_concurrency=max_concurrency))
    ids = [
        create_feature(db, project_id=project.id, data=FeatureCreate(name=f"f{n}")).id
        for n in range(features)
    ]
    return project, ids


def test_racing_admissions_never_exceed_the_limit(db: Db) -> None:
    project, ids = project_with(db, RACERS)
    with ThreadPoolExecutor(RACERS) as pool:
        results = list(
            pool.map(
                lambda fid: admit(db, project_id=project.id, feature_id=fid, max_concurrency=2),
                ids,
            )
        )
    assert results.count(True) == 2
    assert admitted(db, project_id=project.id) == {
        f for f, ok in zip(ids, results, strict=True) if ok
    }


def test_admitting_twice_is_a_no_op_and_release_frees_the_slot(db: Db) -> None:
    project, (a, b, c) = project_with(db, 3)
    for fid in (a, a, b):
        assert admit(db, project_id=project.id, feature_id=fid, max_concurrency=2)
    assert not admit(db, project_id=project.id, feature_id=c, max_concurrency=2)
    release(db, project_id=project.id, feature_id=a)
    release(db, project_id=project.id, feature_id=a)
    assert admit(db, project_id=project.id, feature_id=c, max_concurrency=2)
    release(db, project_id=project.id, feature_id=b)
    release(db, project_id=project.id, feature_id=c)
    assert admitted(db, project_id=project.id) == set()


def test_finishing_a_pipeline_frees_its_slot(db: Db) -> None:
    project, (a, _) = project_with(db, 2)
    assert admit(db, project_id=project.id, feature_id=a, max_concurrency=2)
    assert claim_pending(db, feature_id=a, owner_id="w1") is not None
    finish_pipeline(db, feature_id=a, owner_id="w1", status=FeatureStatus.PASSING)
    assert admitted(db, project_id=project.id) == set()


def test_repair_drops_ended_features_and_adds_running_ones(db: Db) -> None:
    project, (done, running, waiting) = project_with(db, 3)
    for fid in (done, running):
        assert claim_pending(db, feature_id=fid, owner_id="w1") is not None
    # "done" finished before admission existed; "running" holds no slot (started now).
    finish_pipeline(db, feature_id=done, owner_id="w1", status=FeatureStatus.FAILING)
    readmit(db, project_id=project.id, feature_id=done)
    holding = repair_admissions(db, project, list_features(db, project_id=project.id))
    assert holding == admitted(db, project_id=project.id) == {running}
    assert waiting not in holding


def test_a_watcher_round_admits_up_to_the_limit(moto_db: Db) -> None:
    project, ids = project_with(moto_db, 5)
    beat(moto_db, worker_id="w1", started_at="2026-01-01T00:00:00Z")  # w1 is alive
    first = find_work(moto_db, owner_id="w1", running=set(), auto_start=True, stale_s=60)
    second = find_work(moto_db, owner_id="w2", running=set(), auto_start=True, stale_s=60)
    assert [w.claim.feature.id for w in first] == ids[:2]
    assert second == []
    assert admitted(moto_db, project_id=project.id) == set(ids[:2])
