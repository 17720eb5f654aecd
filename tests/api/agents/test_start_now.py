""" "Start now" admission on the store alone (moto): the slot, the refusal, the override."""

from __future__ import annotations

import pytest

from api.agents.start_now import FeatureNotStartableError, ProjectFullError, claim_now
from api.store.admission import admitted
from api.store.db import Db
from api.store.features import create_feature, get_feature
from api.store.projects import create_project
from core.models import FeatureCreate, FeatureStatus, ProjectCreate


def features(db: Db, count: int, limit: int = 1) -> tuple[str, list[str]]:
    project = create_project(db, data=ProjectCreate(name="p", max_concurrency=limit))
    made = [
        create_feature(db, project_id=project.id, data=FeatureCreate(name=f"f{n}"))
        for n in range(count)
    ]
    return project.id, [f.id for f in made]


def test_start_now_takes_a_slot_and_refuses_past_the_limit(moto_db: Db) -> None:
    project_id, (first, second) = features(moto_db, 2)
    claim = claim_now(moto_db, feature_id=first, owner_id="w1", override=False, auto_start=False)
    assert claim.feature.status is FeatureStatus.IN_PROGRESS
    assert not claim.feature.started_over_limit
    assert admitted(moto_db, project_id=project_id) == {first}
    with pytest.raises(ProjectFullError, match="start it again when one of them ends"):
        claim_now(moto_db, feature_id=second, owner_id="w2", override=False, auto_start=False)
    assert get_feature(moto_db, feature_id=second).status is FeatureStatus.PENDING
    assert admitted(moto_db, project_id=project_id) == {first}


def test_an_override_starts_it_past_the_limit_and_says_so(moto_db: Db) -> None:
    project_id, (first, second) = features(moto_db, 2)
    claim_now(moto_db, feature_id=first, owner_id="w1", override=False, auto_start=True)
    forced = claim_now(moto_db, feature_id=second, owner_id="w2", override=True, auto_start=True)
    assert forced.feature.started_over_limit
    assert get_feature(moto_db, feature_id=second).started_over_limit
    assert admitted(moto_db, project_id=project_id) == {first, second}
    with pytest.raises(FeatureNotStartableError, match="already in progress"):
        claim_now(moto_db, feature_id=second, owner_id="w1", override=True, auto_start=True)
    assert admitted(moto_db, project_id=project_id) == {first, second}
