"""A feature's workspace: a clone of its branch, made or checked before each step.

Why a clone and not a worktree (docs/REPOSITORY.md): a worktree's objects, refs,
config and hooks live in the person's ``.git``; for an agent to commit there the
sandbox would have to make that ``.git`` writable, and a planted hook or config
would run on the host later. A clone keeps everything the agent can write inside
its workspace; the service reads it with libgit2 (no hooks, no filters) and
copies the step's commits into the repository itself (``api.git.commit``).

``--no-hardlinks``: a hard-linked object file is the same inode as the person's;
an agent (the file's owner) could chmod and rewrite it through its workspace.

Any machine can continue: the workspace is rebuilt from the branch whenever it
is missing, is not a repository any more, or its HEAD is not the head the
feature recorded (another machine, another workspace root, a wiped disk).
"""

from __future__ import annotations

import re
import shutil
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pygit2

from api.git.cli import GitError, run_git
from api.git.commit import sound_git_dir
from api.git.upstream import Upstream, repository_lock

BRANCH_PREFIX = "omakase/"
#: Longest slug of the feature's name in its branch name.
MAX_SLUG_CHARS = 32
#: Characters of the feature id that end the branch name (unique per feature).
SHORT_ID_CHARS = 6


def branch_name(feature_name: str, feature_id: str) -> str:
    """``omakase/<slug of its name>-<short id>``: readable, ASCII, a valid ref name."""
    ascii_name = unicodedata.normalize("NFKD", feature_name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:MAX_SLUG_CHARS].strip("-")
    unique = feature_id.rsplit("-", 1)[-1]  # the id without its "feat-" prefix
    short = re.sub(r"[^a-z0-9]", "", unique.lower())[-SHORT_ID_CHARS:]
    return f"{BRANCH_PREFIX}{slug or 'feature'}-{short}"


@dataclass(frozen=True, slots=True)
class BranchStart:
    branch: str
    base_commit: str
    head_commit: str


def start_branch(upstream: Upstream, branch: str, *, git: str) -> BranchStart:
    """Create ``branch`` at the base branch's head in the upstream (kept if it exists)."""
    with repository_lock(upstream.path):
        repo = upstream.open()
        base = repo.branches.local[upstream.base_branch].peel(pygit2.Commit)
        existing = repo.branches.local.get(branch)
        if existing is not None:  # an earlier attempt made it: go on from there
            head = existing.peel(pygit2.Commit)
            merge_base = repo.merge_base(base.id, head.id)
            return BranchStart(branch, str(merge_base or base.id), str(head.id))
        run_git(
            ["update-ref", f"refs/heads/{branch}", str(base.id), "0" * 40],
            cwd=upstream.path,
            git=git,
            action=f"create the branch {branch}",
        )
        return BranchStart(branch, str(base.id), str(base.id))


def workspace_head(workspace: Path) -> str | None:
    """The workspace's HEAD commit, or None when it is not a usable repository."""
    if not sound_git_dir(workspace):
        return None
    try:
        repo = pygit2.Repository(str(workspace))
        return str(repo.head.peel(pygit2.Commit).id)
    except (pygit2.GitError, KeyError, ValueError):
        return None


def prepare_workspace(
    upstream: Upstream,
    workspace: Path,
    *,
    branch: str,
    head: str,
    identity: tuple[str, str],
    git: str,
) -> bool:
    """Make ``workspace`` a clone of ``branch`` at ``head``; True when it was (re)built.

    A workspace already at ``head`` is kept as it is (its ignored files — build
    caches, node_modules — stay for the next step). ``identity`` (name, email)
    is the author an agent's own ``git commit`` gets.
    """
    rebuilt = False
    if workspace_head(workspace) != head:
        _clone(upstream, workspace, branch=branch, head=head, git=git)
        rebuilt = True
    repo = pygit2.Repository(str(workspace))
    ref = f"refs/heads/{branch}"
    repo.references.create(ref, pygit2.Oid(hex=head), force=True)
    repo.set_head(ref)
    repo.config["user.name"], repo.config["user.email"] = identity
    return rebuilt


def _clone(upstream: Upstream, workspace: Path, *, branch: str, head: str, git: str) -> None:
    if workspace.exists():
        shutil.rmtree(workspace)
    workspace.parent.mkdir(parents=True, exist_ok=True)
    with repository_lock(upstream.path):
        run_git(
            [
                "clone",
                "--quiet",
                "--no-hardlinks",
                "--single-branch",
                "--branch",
                branch,
                "--",
                str(upstream.path),
                str(workspace),
            ],
            git=git,
            action=f"make the workspace from {branch}",
        )
    repo = pygit2.Repository(str(workspace))
    actual = str(repo.head.peel(pygit2.Commit).id)
    if actual != head:
        if pygit2.Oid(hex=head) not in repo:
            raise GitError(
                f"The branch {branch} in {upstream.path} is at {actual[:7]}, and the commit "
                f"{head[:7]} the feature recorded is not there."
            )
        repo.reset(pygit2.Oid(hex=head), pygit2.enums.ResetMode.HARD)
    # The agent works on its branch only: the person's path is no business of its own.
    repo.remotes.delete("origin")
