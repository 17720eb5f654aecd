"""Merging a feature's branch into its base branch, and pushing a branch: by the service alone.

The result is computed before anything moves: a fast-forward when the base is
an ancestor of the branch, else ``git merge-tree --write-tree`` (git ≥ 2.38)
makes the merged tree in the object store without touching a file — a
conflict is reported with its files and nothing changed. Then one move:

* a URL: the result is pushed to the remote's base branch first (a refused push
  changes nothing, here or there), then the mirror's ref follows;
* the person's repository with the base branch checked out: refused while its
  work tree has uncommitted changes (never touched), else ``merge --ff-only`` to
  the result, which updates the work tree as ``git pull`` would;
* otherwise ``update-ref <new> <old>``, a compare-and-swap.
"""

from __future__ import annotations

from dataclasses import dataclass

import pygit2

from api.git.cli import GitError, git_words, run_git
from api.git.upstream import Upstream, push_refspec, repository_lock, service_signature

FAST_FORWARD = "fast-forward"
MERGE_COMMIT = "merge"
UP_TO_DATE = "up-to-date"
DIRTY_SENTENCE = (
    "The base branch {branch!r} is checked out in {path} and its work tree has uncommitted "
    "changes: commit or stash your changes first (they were not touched)."
)


class MergeConflictError(GitError):
    def __init__(self, files: list[str], *, branch: str, base: str) -> None:
        names = ", ".join(files) if files else "(git named none)"
        super().__init__(
            f"Merging {branch} into {base} conflicts in {len(files)} file(s): {names}. "
            "Nothing was changed; resolve it on the branch, or merge it yourself."
        )
        self.files = files


class DirtyWorkTreeError(GitError):
    pass


@dataclass(frozen=True, slots=True)
class Merged:
    commit: str
    how: str


def _tip(repo: pygit2.Repository, branch: str) -> pygit2.Oid:
    found = repo.branches.local.get(branch)
    if found is None:
        raise GitError(f"The branch {branch!r} does not exist in {repo.path}.")
    return found.peel(pygit2.Commit).id


def _merged_tree(
    upstream: Upstream,
    base: pygit2.Oid,
    head: pygit2.Oid,
    *,
    branch: str,
    base_branch: str,
    git: str,
) -> str:
    done = run_git(
        ["merge-tree", "--write-tree", "--name-only", "--no-messages", str(base), str(head)],
        cwd=upstream.path,
        git=git,
        check=False,
        action="test the merge",
    )
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if done.returncode == 1:
        raise MergeConflictError(sorted(dict.fromkeys(lines[1:])), branch=branch, base=base_branch)
    if done.returncode != 0 or not lines:
        raise GitError(f"Could not test the merge: {git_words(done.stderr)}")
    return lines[0]


def _result(
    upstream: Upstream, repo: pygit2.Repository, *, branch: str, message: str, git: str
) -> tuple[pygit2.Oid, pygit2.Oid, str]:
    base = _tip(repo, upstream.base_branch)
    head = _tip(repo, branch)
    if base == head or repo.descendant_of(base, head):
        return base, base, UP_TO_DATE
    if repo.descendant_of(head, base):
        return base, head, FAST_FORWARD
    tree = _merged_tree(
        upstream, base, head, branch=branch, base_branch=upstream.base_branch, git=git
    )
    signature = service_signature()
    commit = repo.create_commit(
        None, signature, signature, message, pygit2.Oid(hex=tree), [base, head]
    )
    return base, commit, MERGE_COMMIT


def _checked_out_base(upstream: Upstream, repo: pygit2.Repository) -> bool:
    if not upstream.is_users or repo.is_bare or repo.head_is_detached:
        return False
    return repo.head.name == f"refs/heads/{upstream.base_branch}"


def merge_branch(
    upstream: Upstream, *, branch: str, message: str, git: str, timeout: float
) -> Merged:
    """Merge ``branch`` into the upstream's base branch (see the module's docstring)."""
    with repository_lock(upstream.path):
        repo = upstream.open()
        old, new, how = _result(upstream, repo, branch=branch, message=message, git=git)
        if how == UP_TO_DATE:
            return Merged(commit=str(new), how=how)
        base_ref = f"refs/heads/{upstream.base_branch}"
        if upstream.remote_url is not None:
            push_refspec(upstream, f"{new}:{base_ref}", git=git, timeout=timeout)
            run_git(["update-ref", base_ref, str(new)], cwd=upstream.path, git=git)
        elif _checked_out_base(upstream, repo):
            status = run_git(
                ["status", "--porcelain", "--untracked-files=no"], cwd=upstream.path, git=git
            )
            if status.stdout.strip():
                raise DirtyWorkTreeError(
                    DIRTY_SENTENCE.format(branch=upstream.base_branch, path=upstream.path)
                )
            run_git(
                ["merge", "--ff-only", "--quiet", str(new)],
                cwd=upstream.path,
                git=git,
                action=f"update {upstream.base_branch} in your work tree",
            )
        else:
            run_git(
                ["update-ref", base_ref, str(new), str(old)],
                cwd=upstream.path,
                git=git,
                action=f"move {upstream.base_branch}",
            )
        return Merged(commit=str(new), how=how)
