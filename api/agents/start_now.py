""" "Start now" under the project's ``maxConcurrency``, or past it when a person says so.

Why here and not only in the watcher: the watcher admits the features it
starts by itself, but ``POST /api/features/{id}/start`` used to claim the
feature without a slot, so a project ran more features than its limit. Now
"start now" takes a slot with the same conditional write (``admit``), and when
the project is full it answers 409 with a sentence: the feature stays pending
and waits its turn (the watcher starts it when a slot frees, when auto-start
is on). A person may override: the feature then starts at once, holds a slot
past the limit (``readmit``, no size guard), and says so on itself
(``startedOverLimit``), so the one way past the limit is explicit and visible.
"""

from __future__ import annotations

from api.store.admission import admit, admitted, readmit, release
from api.store.claims import FeatureClaim, claim_pending, read_claim
from api.store.db import Db
from api.store.errors import ConflictError
from api.store.features import get_feature
from api.store.projects import get_project
from core.models import Feature, FeatureStatus


class FeatureNotStartableError(ConflictError):
    """The feature is not pending (it runs already, or it finished)."""


class ProjectFullError(ConflictError):
    """The project runs ``maxConcurrency`` features already: this one waits its turn."""


def not_startable(feature: Feature) -> FeatureNotStartableError:
    if feature.status is FeatureStatus.IN_PROGRESS:
        return FeatureNotStartableError(f"Feature {feature.id} is already in progress.")
    return FeatureNotStartableError(
        f"Feature {feature.id} has already finished ({feature.status.value})."
    )


def full_sentence(feature: Feature, *, running: int, limit: int, auto_start: bool) -> str:
    when = (
        "it starts by itself when one of them ends"
        if auto_start
        else "start it again when one of them ends"
    )
    return (
        f"Project {feature.project_id} already runs {running} of its {limit} features at once "
        f"(maxConcurrency): feature {feature.id} waits its turn — {when}, or start it past "
        "the limit with override=true."
    )


def claim_now(
    db: Db, *, feature_id: str, owner_id: str, override: bool, auto_start: bool
) -> FeatureClaim:
    """Take a slot (or, with ``override``, one past the limit) and the claim; blocking."""
    feature = get_feature(db, feature_id=feature_id)
    if feature.status is not FeatureStatus.PENDING:
        raise not_startable(feature)
    project = get_project(db, project_id=feature.project_id)
    over_limit = False
    if not admit(
        db,
        project_id=project.id,
        feature_id=feature.id,
        max_concurrency=project.max_concurrency,
    ):
        if not override:
            running = len(admitted(db, project_id=project.id))
            raise ProjectFullError(
                full_sentence(
                    feature,
                    running=running,
                    limit=project.max_concurrency,
                    auto_start=auto_start,
                )
            )
        readmit(db, project_id=project.id, feature_id=feature.id)
        over_limit = True
    claim = claim_pending(db, feature_id=feature.id, owner_id=owner_id, over_limit=over_limit)
    if claim is None:
        # Someone else started it (or it ended) meanwhile: keep the slot only if it runs.
        now = read_claim(db, feature_id=feature.id).feature
        if now.status is not FeatureStatus.IN_PROGRESS:
            release(db, project_id=project.id, feature_id=feature.id)
        raise not_startable(now)
    return claim
