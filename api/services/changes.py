"""What the agents changed, and taking it: diffs, the changes list, merge and push.

Blocking (git and libgit2 on disk): the routes are plain ``def``, so FastAPI runs
them in its thread pool, off the event loop. Reads go to the repository the
service commits into (``api.git.upstream``); a process that lacks a commit
there (another machine, a URL repository) fetches the feature's branch first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pygit2

from api.git.cli import GitError
from api.git.diff import PatchText, bounded_patch, merge_base, patch_text, summarize
from api.git.merge import DirtyWorkTreeError, MergeConflictError, merge_branch
from api.git.upstream import PushRefusedError, Upstream, ensure_upstream, push_branch, upstream_for
from api.settings import Settings
from api.store.db import Db
from api.store.errors import ConflictError, UpstreamError
from api.store.features import get_feature
from api.store.projects import get_project
from api.store.repository import set_feature_merged
from api.store.runs import get_run, list_runs_for_feature
from core.models import AgentRun, Feature, FeatureStatus, iso, utc_now
from core.repo_models import FeatureChanges, MergeResult, StepChanges

DOWNLOAD_HINT = "add ?download=1 to this address"


@dataclass(frozen=True, slots=True)
class Located:
    feature: Feature
    upstream: Upstream
    repo: pygit2.Repository


def _locate(db: Db, settings: Settings, feature: Feature, *, need: str | None) -> Located:
    """The feature's upstream, opened; fetched first when it lacks ``need``."""
    project = get_project(db, project_id=feature.project_id)
    root = Path(settings.workspace_root).resolve()
    upstream = upstream_for(project, feature, workspace_root=root)
    try:
        if not upstream.path.exists() or (need is not None and need not in _open(upstream)):
            ensure_upstream(
                upstream,
                feature=feature,
                git=settings.git_bin,
                timeout=settings.git_timeout_seconds,
            )
        repo = _open(upstream)
    except GitError as error:
        raise ConflictError(str(error)) from error
    if need is not None and need not in repo:
        raise ConflictError(
            f"The commit {need[:7]} of feature {feature.id} is not in {upstream.path} "
            "(the repository changed outside Omakase)."
        )
    return Located(feature=feature, upstream=upstream, repo=repo)


def _fetch(upstream: Upstream, feature: Feature, settings: Settings) -> None:
    ensure_upstream(
        upstream, feature=feature, git=settings.git_bin, timeout=settings.git_timeout_seconds
    )


def _open(upstream: Upstream) -> pygit2.Repository:
    try:
        return upstream.open()
    except pygit2.GitError as error:
        raise GitError(f"{upstream.path} is not a git repository any more: {error}") from error


def _base_of(located: Located) -> str | None:
    """The merge base of the branch and its base branch (what a merge would bring)."""
    feature, repo = located.feature, located.repo
    assert feature.head_commit is not None
    base = repo.branches.local.get(located.upstream.base_branch)
    if base is None:
        return feature.base_commit
    return merge_base(repo, str(base.peel(pygit2.Commit).id), feature.head_commit)


def run_patch(db: Db, settings: Settings, *, run_id: str, download: bool) -> PatchText:
    run = get_run(db, run_id=run_id)
    if run.changes is None:
        return PatchText(text="", truncated=False, size=0)
    feature = get_feature(db, feature_id=run.feature_id)
    located = _locate(db, settings, feature, need=run.changes.head)
    return _patch(located.repo, run.changes.base, run.changes.head, settings, download=download)


def feature_patch(db: Db, settings: Settings, *, feature_id: str, download: bool) -> PatchText:
    feature = get_feature(db, feature_id=feature_id)
    if feature.head_commit is None:
        return PatchText(text="", truncated=False, size=0)
    located = _locate(db, settings, feature, need=feature.head_commit)
    return _patch(located.repo, _base_of(located), feature.head_commit, settings, download=download)


def _patch(
    repo: pygit2.Repository, base: str | None, head: str, settings: Settings, *, download: bool
) -> PatchText:
    if download:
        text = patch_text(repo, base, head)
        return PatchText(text=text, truncated=False, size=len(text.encode()))
    return bounded_patch(
        repo, base, head, max_bytes=settings.diff_max_bytes, download_hint=DOWNLOAD_HINT
    )


def _step(repo: pygit2.Repository, run: AgentRun) -> StepChanges:
    step = StepChanges(run_id=run.id, step=run.step, attempt=run.attempt, role=run.role.value)
    if run.changes is None:
        return step
    summary = summarize(repo, run.changes.base, run.changes.head)
    return step.model_copy(
        update={
            "commits": run.changes.commits,
            "head": run.changes.head,
            "files": summary.files,
            "insertions": summary.insertions,
            "deletions": summary.deletions,
        }
    )


def feature_changes(db: Db, settings: Settings, *, feature_id: str) -> FeatureChanges:
    feature = get_feature(db, feature_id=feature_id)
    answer = FeatureChanges(
        feature_id=feature.id,
        branch=feature.branch,
        base_commit=feature.base_commit,
        head_commit=feature.head_commit,
    )
    if feature.head_commit is None:
        return answer
    located = _locate(db, settings, feature, need=feature.head_commit)
    runs = sorted(
        list_runs_for_feature(db, feature_id=feature_id), key=lambda r: (r.step, r.attempt)
    )
    whole = summarize(located.repo, _base_of(located), feature.head_commit)
    return answer.model_copy(
        update={
            "base_branch": located.upstream.base_branch,
            "steps": [_step(located.repo, run) for run in runs],
            "files": whole.files,
            "insertions": whole.insertions,
            "deletions": whole.deletions,
        }
    )


def merge_feature(db: Db, settings: Settings, *, feature_id: str) -> MergeResult:
    feature = get_feature(db, feature_id=feature_id)
    if feature.status is not FeatureStatus.PASSING:
        raise ConflictError(
            f"Feature {feature_id} is {feature.status.value}: only a passing feature merges."
        )
    if feature.merged_at is not None:
        raise ConflictError(f"Feature {feature_id} was merged already ({feature.merged_commit}).")
    if feature.branch is None or feature.head_commit is None:
        raise ConflictError(f"Feature {feature_id} has no branch: none of its steps committed.")
    located = _locate(db, settings, feature, need=feature.head_commit)
    if located.upstream.remote_url is not None:  # the remote's base may have moved
        ensure_upstream(
            located.upstream,
            feature=feature,
            git=settings.git_bin,
            timeout=settings.git_timeout_seconds,
        )
    message = f"Merge {feature.branch}: {feature.name}\n\nOmakase-Feature: {feature.id}\n"
    try:
        merged = merge_branch(
            located.upstream,
            branch=feature.branch,
            message=message,
            git=settings.git_bin,
            timeout=settings.git_timeout_seconds,
        )
    except PushRefusedError as error:
        raise UpstreamError(str(error)) from error
    except (MergeConflictError, DirtyWorkTreeError, GitError) as error:
        raise ConflictError(str(error)) from error
    now = iso(utc_now())
    set_feature_merged(db, feature_id=feature_id, merged_at=now, merged_commit=merged.commit)
    return MergeResult(
        feature_id=feature_id,
        branch=feature.branch,
        base_branch=located.upstream.base_branch,
        commit=merged.commit,
        how=merged.how,
        merged_at=now,
        pushed=located.upstream.remote_url is not None,
    )


def push_feature(db: Db, settings: Settings, *, feature_id: str) -> MergeResult:
    feature = get_feature(db, feature_id=feature_id)
    if feature.branch is None or feature.head_commit is None:
        raise ConflictError(f"Feature {feature_id} has no branch: none of its steps committed.")
    located = _locate(db, settings, feature, need=feature.head_commit)
    if located.upstream.remote_url is None:
        raise ConflictError(
            "This project's repository is a local path: there is no remote to push to "
            f"(the branch {feature.branch} is already in it)."
        )
    try:
        push_branch(
            located.upstream,
            feature.branch,
            git=settings.git_bin,
            timeout=settings.git_timeout_seconds,
        )
    except GitError as error:
        raise UpstreamError(str(error)) from error
    return MergeResult(
        feature_id=feature_id,
        branch=feature.branch,
        base_branch=located.upstream.base_branch,
        commit=feature.head_commit,
        how="push",
        pushed=True,
    )
