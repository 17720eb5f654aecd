"""The repository the service commits a feature's branch into, on this machine.

* A local path: the person's repository itself. Only refs are written there
  (the feature's branch, and the base branch on merge); its work tree, index and
  HEAD are touched by a merge alone, and only when the person asks for it.
* A URL: a bare mirror under ``<workspace root>/.repos/<project>.git``, cloned
  and fetched with the service's credentials; each step's branch is pushed from
  it. Several machines sharing one remote each keep a mirror of their own.
* No repository: a bare repository of the feature's own
  (``.repos/<feature>.git``), started with an empty commit, so every project
  has commits and diffs.

``.repos`` lives inside the workspace root, which the sandbox hides from every
agent (``api.agents.sandbox``): agents never see a mirror or its credentials.
"""

from __future__ import annotations

import shutil
import threading
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pygit2

from api.git.cli import GitError, run_git
from api.git.source import DEFAULT_BRANCH
from core.models import Feature, Project

#: Folder of mirrors and feature repositories, inside the workspace root.
REPOS_DIR = ".repos"
SERVICE_NAME = "Omakase"
SERVICE_EMAIL = "omakase@localhost"

#: One writer at a time per repository in this process (fetches, ref moves, pushes).
_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)


def repository_lock(path: Path) -> threading.Lock:
    return _locks[str(path)]


def service_signature() -> pygit2.Signature:
    return pygit2.Signature(SERVICE_NAME, SERVICE_EMAIL)


@dataclass(frozen=True, slots=True)
class Upstream:
    #: The git directory or work tree the service writes the branch into.
    path: Path
    base_branch: str
    #: The remote the branch is pushed to (a URL repository), else None.
    remote_url: str | None
    #: True for the person's own repository (a merge may update its work tree).
    is_users: bool

    def open(self) -> pygit2.Repository:
        return pygit2.Repository(str(self.path))


def upstream_for(project: Project, feature: Feature, *, workspace_root: Path) -> Upstream:
    repos = workspace_root / REPOS_DIR
    if project.repository is None:
        return Upstream(
            path=repos / f"{feature.id}.git",
            base_branch=DEFAULT_BRANCH,
            remote_url=None,
            is_users=False,
        )
    base = project.base_branch or DEFAULT_BRANCH
    if project.repository.startswith("/"):
        return Upstream(
            path=Path(project.repository), base_branch=base, remote_url=None, is_users=True
        )
    return Upstream(
        path=repos / f"{project.id}.git",
        base_branch=base,
        remote_url=project.repository,
        is_users=False,
    )


def branch_tip(upstream: Upstream, branch: str) -> str | None:
    found = upstream.open().branches.local.get(branch)
    return str(found.peel(pygit2.Commit).id) if found is not None else None


def is_descendant(upstream: Upstream, commit: str, ancestor: str) -> bool:
    repo = upstream.open()
    return bool(repo.descendant_of(pygit2.Oid(hex=commit), pygit2.Oid(hex=ancestor)))


def ensure_upstream(upstream: Upstream, *, feature: Feature, git: str, timeout: float) -> None:
    """Make the upstream exist and, for a URL, fetch its base branch (and the feature's).

    Raises ``GitError`` with a sentence (the repository vanished, the remote is gone).
    """
    with repository_lock(upstream.path):
        if upstream.remote_url is not None:
            _sync_mirror(upstream, feature=feature, git=git, timeout=timeout)
        elif not upstream.is_users:
            _init_own(upstream, feature=feature)
        elif not upstream.path.is_dir():
            raise GitError(f"The repository {upstream.path} no longer exists on this machine.")
        try:
            repo = upstream.open()
        except pygit2.GitError as error:
            raise GitError(f"{upstream.path} is no longer a git repository: {error}") from error
        if repo.branches.local.get(upstream.base_branch) is None:
            raise GitError(
                f"The branch {upstream.base_branch!r} no longer exists in {upstream.path}."
            )


def _init_own(upstream: Upstream, *, feature: Feature) -> None:
    if upstream.path.is_dir():
        return
    upstream.path.parent.mkdir(parents=True, exist_ok=True)
    partial = upstream.path.with_suffix(".partial")
    repo = pygit2.init_repository(str(partial), bare=True, initial_head=upstream.base_branch)
    tree = repo.TreeBuilder().write()
    signature = service_signature()
    repo.create_commit(
        f"refs/heads/{upstream.base_branch}",
        signature,
        signature,
        f"Start of {feature.name}\n\nA repository of its own: the project names none.\n",
        tree,
        [],
    )
    partial.rename(upstream.path)


def _sync_mirror(upstream: Upstream, *, feature: Feature, git: str, timeout: float) -> None:
    assert upstream.remote_url is not None
    if not upstream.path.is_dir():
        upstream.path.parent.mkdir(parents=True, exist_ok=True)
        partial = upstream.path.with_suffix(".partial")
        if partial.exists():
            shutil.rmtree(partial)
        run_git(
            ["clone", "--bare", "--quiet", "--", upstream.remote_url, str(partial)],
            git=git,
            timeout=timeout,
            action="clone the repository",
        )
        partial.rename(upstream.path)
    refspecs = [f"+refs/heads/{upstream.base_branch}:refs/heads/{upstream.base_branch}"]
    run_git(
        ["fetch", "--quiet", "--no-tags", "origin", *refspecs],
        cwd=upstream.path,
        git=git,
        timeout=timeout,
        action="fetch the base branch",
    )
    if feature.branch is not None:
        # Another machine may have gone on with the feature: take its branch if it is
        # ahead (a non-forced fetch never throws away a local commit not yet pushed).
        run_git(
            [
                "fetch",
                "--quiet",
                "--no-tags",
                "origin",
                f"refs/heads/{feature.branch}:refs/heads/{feature.branch}",
            ],
            cwd=upstream.path,
            git=git,
            timeout=timeout,
            check=False,
        )


class PushRefusedError(GitError):
    """The remote refused a push (or could not be reached): git's words, 502."""


def push_refspec(upstream: Upstream, refspec: str, *, git: str, timeout: float) -> None:
    """Push one refspec from the mirror to the remote (call it holding the repository's lock)."""
    if upstream.remote_url is None:
        raise GitError("This project's repository is a local path: there is no remote to push to.")
    try:
        run_git(
            ["push", "--quiet", "origin", refspec],
            cwd=upstream.path,
            git=git,
            timeout=timeout,
            action="push to the remote",
        )
    except GitError as error:
        raise PushRefusedError(str(error), stderr=error.stderr, code=error.code) from error


def push_branch(upstream: Upstream, branch: str, *, git: str, timeout: float) -> None:
    with repository_lock(upstream.path):
        push_refspec(upstream, f"refs/heads/{branch}:refs/heads/{branch}", git=git, timeout=timeout)


def move_ref(upstream: Upstream, ref: str, new: str, old: str | None, *, git: str) -> None:
    """Compare-and-swap ``ref`` from ``old`` (None: must not exist) to ``new``."""
    expected = old if old is not None else "0" * 40
    run_git(["update-ref", ref, new, expected], cwd=upstream.path, git=git, action=f"move {ref}")
