"""The repository routes of ``FakeApi`` (contract v3): changes, diffs, merge, push.

A mixin so fake_api.py stays about the chat; the scenario lives in
``FakeRepoState`` (what ``/changes`` and ``/diff`` answer, a refusal to raise
on merge), and a merge moves the fake feature as the API would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from core.client import ApiError, DiffText
from core.models import Feature
from core.repo_models import FeatureChanges, MergeResult

MERGED_AT = "2026-11-24T06:00:00.000000Z"


@dataclass
class FakeRepoState:
    changes: FeatureChanges | None = None
    #: The diff text by run id ("" : the whole branch).
    diffs: dict[str, DiffText] = field(default_factory=dict)
    #: Raise this from merge/push (a 409 or 502 sentence).
    refusal: ApiError | None = None
    #: ``(how, feature id)`` of every merge and push asked for.
    calls: list[tuple[str, str]] = field(default_factory=list)
    downloads: list[str] = field(default_factory=list)


class _HasFeature(Protocol):
    feature: Feature
    repo: FakeRepoState

    def _check(self) -> None: ...


class FakeRepoRoutes:
    """``ApiClient``'s ``RepoRoutes`` over a ``FakeRepoState``."""

    def feature_changes(self: _HasFeature, feature_id: str) -> FeatureChanges:
        self._check()
        if self.repo.changes is None:
            raise ApiError(404, "No branch yet.")
        return self.repo.changes

    def run_diff(self: _HasFeature, run_id: str) -> DiffText:
        self._check()
        return self.repo.diffs.get(run_id, DiffText(""))

    def feature_diff(self: _HasFeature, feature_id: str) -> DiffText:
        self._check()
        return self.repo.diffs.get("", DiffText(""))

    def download_run_diff(self: _HasFeature, run_id: str) -> bytes:
        self.repo.downloads.append(run_id)
        return self.repo.diffs.get(run_id, DiffText("")).text.encode()

    def download_feature_diff(self: _HasFeature, feature_id: str) -> bytes:
        self.repo.downloads.append("")
        return self.repo.diffs.get("", DiffText("")).text.encode()

    def merge_feature(self: _HasFeature, feature_id: str) -> MergeResult:
        return FakeRepoRoutes._act(self, "merge")

    def push_feature(self: _HasFeature, feature_id: str) -> MergeResult:
        return FakeRepoRoutes._act(self, "push")

    @staticmethod
    def _act(api: _HasFeature, how: str) -> MergeResult:
        api._check()
        api.repo.calls.append((how, api.feature.id))
        if api.repo.refusal is not None:
            raise api.repo.refusal
        commit = "c0ffee1234567890c0ffee1234567890c0ffee12"
        if how == "merge":
            api.feature = api.feature.model_copy(
                update={"merged_commit": commit, "merged_at": MERGED_AT}
            )
        return MergeResult(
            feature_id=api.feature.id,
            branch=api.feature.branch or "",
            base_branch="main",
            commit=commit,
            how="fast-forward" if how == "merge" else "push",
            merged_at=MERGED_AT if how == "merge" else None,
            pushed=how == "push",
        )
