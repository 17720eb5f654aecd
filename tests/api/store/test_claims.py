"""Pipeline claims: exactly one process wins a feature; every later write is owner-guarded."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from api.store.claims import (
    ClaimLostError,
    advance_relay_cursors,
    claim_pending,
    fail_pending,
    finish_pipeline,
    read_claim,
    release_claim,
    save_checkpoint,
    take_over,
)
from api.store.db import Db
from api.store.errors import NotFoundError
from api.store.features import create_feature
from api.store.projects import create_project
from api.store.workers import beat, read_heartbeat, remove_heartbeat
from core.models import Feature, FeatureCreate, FeatureStatus, ProjectCreate

RACERS = 8


def new_feature(db: Db) -> Feature:
    project = create_project(db, data=ProjectCreate(name="claims"))
    return create_feature(db, project_id=project.id, data=FeatureCreate(name="race me"))


def race(count: int, attempt: object) -> list[object]:
    barrier = threading.Barrier(count)

    def one(index: int) -> object:
        barrier.wait()
        return attempt(index)  # type: ignore[operator]

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


# The races run on the local engine only: moto does not evaluate conditional writes
# atomically across threads, so it cannot referee a race (the engine can, as DynamoDB).
@pytest.mark.engine
def test_racing_pipelines_claim_a_feature_once(engine_db: Db) -> None:
    db = engine_db
    feature = new_feature(db)
    results = race(RACERS, lambda i: claim_pending(db, feature_id=feature.id, owner_id=f"wrk_{i}"))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    stored = read_claim(db, feature_id=feature.id)
    assert stored.feature.status is FeatureStatus.IN_PROGRESS
    assert stored.owner_id == winners[0].owner_id  # type: ignore[attr-defined]
    assert stored.relay_cursors == {}


@pytest.mark.engine
def test_takeover_is_a_compare_and_swap(engine_db: Db) -> None:
    db = engine_db
    feature = new_feature(db)
    claim_pending(db, feature_id=feature.id, owner_id="wrk_dead")
    results = race(
        RACERS,
        lambda i: take_over(
            db, feature_id=feature.id, owner_id=f"wrk_{i}", previous_owner="wrk_dead"
        ),
    )
    assert len([r for r in results if r is not None]) == 1
    # Taking over from an owner that is no longer the owner fails.
    assert take_over(db, feature_id=feature.id, owner_id="wrk_x", previous_owner="wrk_dead") is None


def test_owner_guarded_writes_refuse_a_former_owner(db: Db) -> None:
    feature = new_feature(db)
    claim_pending(db, feature_id=feature.id, owner_id="wrk_a")
    advance_relay_cursors(
        db, feature_id=feature.id, owner_id="wrk_a", cursors={"run_1": "000000000003"}
    )
    assert release_claim(db, feature_id=feature.id, owner_id="wrk_a")
    assert take_over(db, feature_id=feature.id, owner_id="wrk_b", previous_owner=None) is not None
    with pytest.raises(ClaimLostError):
        save_checkpoint(
            db,
            feature_id=feature.id,
            owner_id="wrk_a",
            checkpoint={"step": 2},
            current_step=2,
            current_run_id="run_2",
        )
    with pytest.raises(ClaimLostError):
        advance_relay_cursors(db, feature_id=feature.id, owner_id="wrk_a", cursors={"run_1": "9"})
    claim = read_claim(db, feature_id=feature.id)
    assert claim.owner_id == "wrk_b"
    assert claim.relay_cursors == {"run_1": "000000000003"}  # survived the takeover
    finished = finish_pipeline(
        db, feature_id=feature.id, owner_id="wrk_b", status=FeatureStatus.PASSING
    )
    assert finished.owner_id is None
    assert finished.feature.status is FeatureStatus.PASSING


def test_only_pending_features_are_claimed_or_failed(db: Db) -> None:
    feature = new_feature(db)
    assert fail_pending(db, feature_id=feature.id, error_message="Dependency x failed.") is not None
    assert claim_pending(db, feature_id=feature.id, owner_id="wrk_a") is None
    assert read_claim(db, feature_id=feature.id).feature.error_message == "Dependency x failed."
    with pytest.raises(NotFoundError):
        claim_pending(db, feature_id="feat_missing", owner_id="wrk_a")


def test_heartbeats(db: Db) -> None:
    first = beat(db, worker_id="wrk_hb", started_at="2026-11-24T00:00:00.000000Z")
    stored = read_heartbeat(db, worker_id="wrk_hb")
    assert stored is not None
    assert stored.beat_at == pytest.approx(first.beat_at)
    remove_heartbeat(db, worker_id="wrk_hb")
    assert read_heartbeat(db, worker_id="wrk_hb") is None
