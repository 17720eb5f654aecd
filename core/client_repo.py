"""The repository routes of the client (contract v3): diffs, changes, merge, push.

A mixin of its own so ``core.client`` stays one screen per concern; ``ApiClient``
inherits it, so callers see one class. Diffs are text (``text/x-diff``), not
JSON: the API cuts a long one (header ``X-Diff-Truncated: true``) unless the
whole patch is asked for with ``?download=1``, which is what a download wants.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.api_http import ApiTransport
from core.repo_models import FeatureChanges, MergeResult

#: The header by which the API says it cut a diff (the whole patch: ``?download=1``).
TRUNCATED_HEADER = "X-Diff-Truncated"
#: Seconds a whole-patch download may take (it can be megabytes; the default is for pages).
DOWNLOAD_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class DiffText:
    """A unified diff as the API sent it; ``truncated``: cut past the API's size limit."""

    text: str
    truncated: bool = False


class RepoRoutes(ApiTransport):
    """``GET …/diff``, ``GET …/changes``, ``POST …/merge`` and ``POST …/push``."""

    def run_diff(self, run_id: str) -> DiffText:
        """One step's diff (empty text: the step changed nothing)."""
        return self._diff(f"/api/agent-runs/{run_id}/diff")

    def feature_diff(self, feature_id: str) -> DiffText:
        """The feature's branch against its merge base with the base branch."""
        return self._diff(f"/api/features/{feature_id}/diff")

    def download_run_diff(self, run_id: str) -> bytes:
        """The whole patch of one step, never cut (``?download=1``)."""
        return self._download(f"/api/agent-runs/{run_id}/diff")

    def download_feature_diff(self, feature_id: str) -> bytes:
        """The whole patch of the feature's branch, never cut (``?download=1``)."""
        return self._download(f"/api/features/{feature_id}/diff")

    def feature_changes(self, feature_id: str) -> FeatureChanges:
        """Every file each step changed, and the whole branch's files, with line counts."""
        return self._one(FeatureChanges, "GET", f"/api/features/{feature_id}/changes")

    def merge_feature(self, feature_id: str) -> MergeResult:
        """Merge a passing feature's branch into its base branch (``ApiError`` 409/502 else)."""
        return self._one(MergeResult, "POST", f"/api/features/{feature_id}/merge")

    def push_feature(self, feature_id: str) -> MergeResult:
        """Push the feature's branch to the project's URL repository (``how == "push"``)."""
        return self._one(MergeResult, "POST", f"/api/features/{feature_id}/push")

    def _diff(self, path: str) -> DiffText:
        response = self._send("GET", path)
        cut = response.headers.get(TRUNCATED_HEADER, "").strip().lower() == "true"
        return DiffText(response.text, truncated=cut)

    def _download(self, path: str) -> bytes:
        response = self._send("GET", path, params={"download": 1}, timeout=DOWNLOAD_TIMEOUT_S)
        return response.content
