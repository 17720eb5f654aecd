"""The agents' work (contract v3): a step's diff, the branch's diff, the changes list, merge, push.

Plain ``def`` routes: git and libgit2 block, so they run in the thread pool.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import DbDep, OperatorDep, SettingsDep
from api.git.diff import PatchText
from api.routes.params import FeatureId, RunId
from api.services import changes
from core.repo_models import FeatureChanges, MergeResult

router = APIRouter(tags=["changes"])

DIFF_MEDIA_TYPE = "text/x-diff; charset=utf-8"
#: Set on a diff answer cut at the size limit (the body lists the files instead).
TRUNCATED_HEADER = "X-Diff-Truncated"
DownloadParam = Annotated[
    bool,
    Query(description="The whole patch as a file (Content-Disposition), however large."),
]


def _diff_response(patch: PatchText, *, name: str, download: bool) -> Response:
    headers = {TRUNCATED_HEADER: "true" if patch.truncated else "false"}
    if download:
        headers["Content-Disposition"] = f'attachment; filename="{name}.patch"'
    return Response(patch.text, media_type=DIFF_MEDIA_TYPE, headers=headers)


@router.get(
    "/agent-runs/{runId}/diff",
    summary="Unified diff of one step's commits (empty: no change)",
    response_class=Response,
    responses={200: {"content": {"text/x-diff": {}}}},
)
def get_run_diff(
    run_id: RunId, db: DbDep, settings: SettingsDep, _: OperatorDep, download: DownloadParam = False
) -> Response:
    patch = changes.run_patch(db, settings, run_id=run_id, download=download)
    return _diff_response(patch, name=run_id, download=download)


@router.get(
    "/features/{featureId}/diff",
    summary="Unified diff of the feature's branch against its merge base",
    response_class=Response,
    responses={200: {"content": {"text/x-diff": {}}}},
)
def get_feature_diff(
    feature_id: FeatureId,
    db: DbDep,
    settings: SettingsDep,
    _: OperatorDep,
    download: DownloadParam = False,
) -> Response:
    patch = changes.feature_patch(db, settings, feature_id=feature_id, download=download)
    return _diff_response(patch, name=feature_id, download=download)


@router.get("/features/{featureId}/changes", summary="Files changed, per step and in all")
def get_feature_changes(
    feature_id: FeatureId, db: DbDep, settings: SettingsDep, _: OperatorDep
) -> FeatureChanges:
    return changes.feature_changes(db, settings, feature_id=feature_id)


@router.post(
    "/features/{featureId}/merge",
    summary="Merge a passing feature's branch into its base branch (pushed for a URL)",
)
def post_merge(
    feature_id: FeatureId, db: DbDep, settings: SettingsDep, _: OperatorDep
) -> MergeResult:
    return changes.merge_feature(db, settings, feature_id=feature_id)


@router.post(
    "/features/{featureId}/push", summary="Push the feature's branch to the URL repository"
)
def post_push(
    feature_id: FeatureId, db: DbDep, settings: SettingsDep, _: OperatorDep
) -> MergeResult:
    return changes.push_feature(db, settings, feature_id=feature_id)
