"""The feature watcher: which features this process should run now.

* pending features whose dependencies all pass start, highest priority (lowest
  number) first, each once it is admitted: a slot of the project's
  ``maxConcurrency`` taken by one conditional write on the project item
  (``api.store.admission``); a pending feature with a failing dependency is
  marked failing;
* in-progress features with no owner (released at a clean shutdown) or whose
  owner stopped heartbeating are taken over and resumed.

Claims are conditional writes (``api.store.claims``), so when several API
processes watch the same store exactly one wins each feature; admission is a
conditional write too, so together they never run more than ``maxConcurrency``
features of a project. Admission comes before the claim (a feature is never in
progress without its slot); a process that admitted a feature and then lost
its claim frees the slot unless the feature runs (its winner admitted the same
id). Each round repairs the set first (``repair_admissions``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from api.agents.steps import INTERRUPTED_BY_SHUTDOWN, interrupted_by_dead_owner
from api.store.admission import admit, admitted, readmit, release
from api.store.claims import FeatureClaim, claim_pending, fail_pending, read_claim, take_over
from api.store.db import Db
from api.store.errors import NotFoundError
from api.store.features import list_features
from api.store.projects import list_projects
from api.store.workers import read_heartbeat
from core.models import Feature, FeatureStatus, Project

#: Statuses whose feature may hold a slot: running, or admitted and about to be claimed.
HOLDS_A_SLOT = frozenset({FeatureStatus.IN_PROGRESS, FeatureStatus.PENDING})


@dataclass(frozen=True, slots=True)
class Work:
    claim: FeatureClaim
    #: How a run the previous owner left active is failed ("" for a fresh start).
    takeover_error: str


def owner_gone(db: Db, owner_id: str, stale_s: float) -> tuple[bool, float | None]:
    """``(gone, seconds silent)``: gone when its heartbeat is missing or older than ``stale_s``."""
    heartbeat = read_heartbeat(db, worker_id=owner_id)
    if heartbeat is None:
        return True, None
    silent = time.time() - heartbeat.beat_at
    return silent > stale_s, silent


def _resumable(db: Db, feature: Feature, *, owner_id: str, stale_s: float) -> Work | None:
    claim = read_claim(db, feature_id=feature.id)
    if claim.feature.status is not FeatureStatus.IN_PROGRESS:
        return None
    if claim.owner_id == owner_id:
        return Work(claim=claim, takeover_error=INTERRUPTED_BY_SHUTDOWN)
    if claim.owner_id is None:
        error = INTERRUPTED_BY_SHUTDOWN
    else:
        gone, silent = owner_gone(db, claim.owner_id, stale_s)
        if not gone:
            return None
        error = interrupted_by_dead_owner(claim.owner_id, silent)
    taken = take_over(db, feature_id=feature.id, owner_id=owner_id, previous_owner=claim.owner_id)
    if taken is None:
        return None
    readmit(db, project_id=feature.project_id, feature_id=feature.id)
    return Work(claim=taken, takeover_error=error)


def _status_now(db: Db, feature_id: str) -> FeatureStatus | None:
    """The feature's status from a strongly consistent read (None when it is gone)."""
    try:
        return read_claim(db, feature_id=feature_id).feature.status
    except NotFoundError:
        return None


def repair_admissions(db: Db, project: Project, features: list[Feature]) -> set[str]:
    """Make the project's admitted set match the features that hold a slot; return it.

    ``features`` comes from the GSI and may lag, so a change is made only after
    a strongly consistent read of the feature agrees.
    """
    holding = admitted(db, project_id=project.id)
    by_id = {f.id: f for f in features}
    for feature_id in sorted(holding):
        listed = by_id.get(feature_id)
        if listed is not None and listed.status in HOLDS_A_SLOT:
            continue
        if _status_now(db, feature_id) not in HOLDS_A_SLOT:
            release(db, project_id=project.id, feature_id=feature_id)
            holding.discard(feature_id)
    for feature in features:
        if (
            feature.status is FeatureStatus.IN_PROGRESS
            and feature.id not in holding
            and _status_now(db, feature.id) is FeatureStatus.IN_PROGRESS
        ):
            readmit(db, project_id=project.id, feature_id=feature.id)
            holding.add(feature.id)
    return holding


def _admit_and_claim(
    db: Db, project: Project, feature: Feature, *, owner_id: str, holding: set[str]
) -> FeatureClaim | None:
    """Take a slot, then the claim; give the slot back if the claim went nowhere."""
    if feature.id not in holding and len(holding) >= project.max_concurrency:
        return None  # full as last read: save the write (the next round reads again)
    if not admit(
        db, project_id=project.id, feature_id=feature.id, max_concurrency=project.max_concurrency
    ):
        return None
    holding.add(feature.id)
    claimed = claim_pending(db, feature_id=feature.id, owner_id=owner_id)
    if claimed is None and _status_now(db, feature.id) is not FeatureStatus.IN_PROGRESS:
        release(db, project_id=project.id, feature_id=feature.id)
        holding.discard(feature.id)
    return claimed


def find_work(
    db: Db, *, owner_id: str, running: set[str], auto_start: bool, stale_s: float
) -> list[Work]:
    """Claim what this process should run now (blocking: a worker thread)."""
    work: list[Work] = []
    for project in list_projects(db):
        features = list_features(db, project_id=project.id)
        by_id = {f.id: f for f in features}
        in_progress = [f for f in features if f.status is FeatureStatus.IN_PROGRESS]
        for feature in in_progress:
            if feature.id not in running:
                found = _resumable(db, feature, owner_id=owner_id, stale_s=stale_s)
                if found is not None:
                    work.append(found)
        if not auto_start:
            continue
        try:
            holding = repair_admissions(db, project, features)
        except NotFoundError:
            continue  # the project was deleted meanwhile
        pending = sorted(
            (f for f in features if f.status is FeatureStatus.PENDING),
            key=lambda f: (f.priority, f.created_at, f.id),
        )
        for feature in pending:
            dependencies = [by_id.get(d) for d in feature.dependencies]
            broken = [
                d.name for d in dependencies if d is not None and d.status is FeatureStatus.FAILING
            ]
            if broken:
                fail_pending(
                    db,
                    feature_id=feature.id,
                    error_message=f"Dependency {', '.join(broken)} failed, so this feature "
                    "was not started.",
                )
                continue
            ready = all(d is not None and d.status is FeatureStatus.PASSING for d in dependencies)
            if not ready:
                continue
            claimed = _admit_and_claim(db, project, feature, owner_id=owner_id, holding=holding)
            if claimed is not None:
                work.append(Work(claim=claimed, takeover_error=INTERRUPTED_BY_SHUTDOWN))
    return work
