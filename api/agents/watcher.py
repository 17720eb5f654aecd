"""The feature watcher: which features this process should run now.

* pending features whose dependencies all pass start, highest priority (lowest
  number) first, while the project has fewer than ``maxConcurrency`` features in
  progress; a pending feature with a failing dependency is marked failing;
* in-progress features with no owner (released at a clean shutdown) or whose
  owner stopped heartbeating are taken over and resumed.

Claims are conditional writes (``api.store.claims``), so when several API
processes watch the same store exactly one wins each feature. The concurrency
count is read before claiming: two processes claiming different features at
the same instant may exceed the limit by one (documented in docs/AGENTS.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from api.agents.steps import INTERRUPTED_BY_SHUTDOWN, interrupted_by_dead_owner
from api.store.claims import FeatureClaim, claim_pending, fail_pending, read_claim, take_over
from api.store.db import Db
from api.store.features import list_features
from api.store.projects import list_projects
from api.store.workers import read_heartbeat
from core.models import Feature, FeatureStatus


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
    return Work(claim=taken, takeover_error=error) if taken else None


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
        slots = project.max_concurrency - len(in_progress)
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
            if slots <= 0 or not ready:
                continue
            claimed = claim_pending(db, feature_id=feature.id, owner_id=owner_id)
            if claimed is not None:
                work.append(Work(claim=claimed, takeover_error=INTERRUPTED_BY_SHUTDOWN))
                slots -= 1
    return work
