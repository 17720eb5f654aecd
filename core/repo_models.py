"""The project's git repository on the wire (contract v3): changes, diffs, merges.

Why a module of its own: these are the shapes of the agents' *work* (commits,
files, line counts), read by the API, the dashboard and scripts alike, apart
from the chat's models in ``core.models``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from core.model_types import CamelModel

#: Longest repository path or URL accepted on create.
MAX_REPOSITORY_CHARS = 2_000
#: Longest base branch name accepted on create (git's own limit is the file system's).
MAX_BRANCH_CHARS = 250

RepositoryText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_REPOSITORY_CHARS)
]
BranchName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_BRANCH_CHARS)
]


class RunChanges(CamelModel):
    """What one step changed: its commits on the feature's branch and their line counts.

    ``base`` is the branch head the step started from, so the step's diff is
    ``base..head`` whatever the agent committed itself in between.
    """

    commits: list[str] = Field(default_factory=list)
    head: str
    base: str
    files: int = 0
    insertions: int = 0
    deletions: int = 0


class FileChange(CamelModel):
    """One file of a diff: ``status`` is git's letter (A, M, D, R, C, T)."""

    path: str
    old_path: str | None = None
    status: str
    insertions: int = 0
    deletions: int = 0
    binary: bool = False


class StepChanges(CamelModel):
    """One step's part of ``GET /api/features/{id}/changes``."""

    run_id: str
    step: int
    attempt: int = 1
    role: str
    commits: list[str] = Field(default_factory=list)
    head: str | None = None
    files: list[FileChange] = Field(default_factory=list)
    insertions: int = 0
    deletions: int = 0


class FeatureChanges(CamelModel):
    """``GET /api/features/{id}/changes``: per step, and the whole branch against its base."""

    feature_id: str
    branch: str | None = None
    base_branch: str | None = None
    base_commit: str | None = None
    head_commit: str | None = None
    steps: list[StepChanges] = Field(default_factory=list)
    #: The branch against its merge base (what a merge would bring).
    files: list[FileChange] = Field(default_factory=list)
    insertions: int = 0
    deletions: int = 0


class MergeResult(CamelModel):
    """``POST /api/features/{id}/merge`` and ``…/push``: what moved where."""

    feature_id: str
    branch: str
    base_branch: str
    #: The commit the base branch points at now (merge), or the pushed branch head (push).
    commit: str
    #: ``fast-forward``, ``merge`` (a merge commit by the service) or ``push``.
    how: str
    merged_at: str | None = None
    pushed: bool = False
    #: What git said when a push failed (the merge itself stands locally).
    push_error: str | None = None
