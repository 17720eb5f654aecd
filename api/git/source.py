"""A project's repository, checked once on create: a local work tree or a git URL.

Why on create: a person who types a wrong path should read why at once (422 with
git's own words), not when the first step fails minutes later. The check reads
and never writes: no fetch into, no config change of, the person's repository.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from api.git.cli import GitError, GitTimeoutError, git_words, redact, run_git

#: ``scheme://…`` URLs git understands, and scp-like ``user@host:path``.
URL_SCHEMES = ("ssh://", "git://", "http://", "https://", "file://", "git+ssh://", "ssh+git://")
_SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:(?!//)")
#: The branch a repository with no HEAD branch (or a new one) is given.
DEFAULT_BRANCH = "main"


class RepositoryProblem(ValueError):
    """The repository cannot be used; ``str()`` is the sentence for the person (422)."""


@dataclass(frozen=True, slots=True)
class RepositorySource:
    #: A resolved absolute path, or the URL as given.
    location: str
    is_url: bool
    base_branch: str


def is_url(text: str) -> bool:
    return text.lower().startswith(URL_SCHEMES) or bool(_SCP_LIKE.match(text))


def _valid_branch(name: str, *, git: str) -> None:
    done = run_git(["check-ref-format", "--branch", name], git=git, check=False)
    if done.returncode != 0 or name.startswith("-"):
        raise RepositoryProblem(f"{name!r} is not a valid branch name.")


def check_local(path_text: str, base_branch: str | None, *, git: str) -> RepositorySource:
    path = Path(path_text)
    if not path.is_absolute():
        raise RepositoryProblem(
            f"The repository {path_text!r} must be an absolute path (or a git URL)."
        )
    if not path.is_dir():
        raise RepositoryProblem(f"The repository {path_text!r} is not a folder on this machine.")
    top = run_git(["rev-parse", "--show-toplevel"], cwd=path, git=git, check=False)
    if top.returncode != 0:
        bare = run_git(["rev-parse", "--is-bare-repository"], cwd=path, git=git, check=False)
        if bare.returncode != 0 or bare.stdout.strip() != "true":
            raise RepositoryProblem(
                f"{path_text} is not a git repository: {git_words(top.stderr or bare.stderr)}"
            )
        root = path.resolve()
    else:
        root = Path(top.stdout.strip()).resolve()
        if root != path.resolve():
            raise RepositoryProblem(
                f"{path_text} is inside the git repository {root}: give its top folder."
            )
    head = run_git(["log", "-1", "--format=%H"], cwd=root, git=git, check=False)
    if head.returncode != 0:
        raise RepositoryProblem(f"{path_text} has no commit yet: {git_words(head.stderr)}")
    if base_branch is None:
        current = run_git(["symbolic-ref", "--short", "-q", "HEAD"], cwd=root, git=git, check=False)
        base_branch = current.stdout.strip()
        if current.returncode != 0 or not base_branch:
            raise RepositoryProblem(
                f"{path_text} has no branch checked out (a detached HEAD): give baseBranch."
            )
    _valid_branch(base_branch, git=git)
    exists = run_git(
        ["rev-parse", "--verify", "--quiet", f"refs/heads/{base_branch}^{{commit}}"],
        cwd=root,
        git=git,
        check=False,
    )
    if exists.returncode != 0:
        raise RepositoryProblem(f"The branch {base_branch!r} does not exist in {path_text}.")
    return RepositorySource(location=str(root), is_url=False, base_branch=base_branch)


def remote_heads(url: str, *, git: str, timeout: float) -> tuple[str | None, set[str]]:
    """(the remote's default branch, its branch names), by one ``git ls-remote``."""
    try:
        done = run_git(
            ["ls-remote", "--symref", "--", url, "HEAD", "refs/heads/*"],
            git=git,
            timeout=timeout,
            action=f"reach {redact(url)}",
        )
    except GitTimeoutError as error:
        raise RepositoryProblem(
            f"The repository {redact(url)} could not be reached within {timeout:.0f} s."
        ) from error
    except GitError as error:
        raise RepositoryProblem(
            f"The repository {redact(url)} could not be reached: {git_words(error.stderr)}"
        ) from error
    default: str | None = None
    heads: set[str] = set()
    for line in done.stdout.splitlines():
        if line.startswith("ref: ") and line.endswith("\tHEAD"):
            default = line[len("ref: ") :].split("\t", 1)[0].removeprefix("refs/heads/")
        elif "\trefs/heads/" in line:
            heads.add(line.split("\trefs/heads/", 1)[1])
    return default, heads


def check_url(url: str, base_branch: str | None, *, git: str, timeout: float) -> RepositorySource:
    default, heads = remote_heads(url, git=git, timeout=timeout)
    if not heads:
        raise RepositoryProblem(f"The repository {redact(url)} has no commit yet.")
    branch = base_branch or default
    if branch is None:
        raise RepositoryProblem(f"{redact(url)} names no default branch: give baseBranch.")
    _valid_branch(branch, git=git)
    if branch not in heads:
        raise RepositoryProblem(f"The branch {branch!r} does not exist in {redact(url)}.")
    return RepositorySource(location=url, is_url=True, base_branch=branch)


def check_repository(
    repository: str, base_branch: str | None, *, git: str, timeout: float
) -> RepositorySource:
    """The repository as the project keeps it; ``RepositoryProblem`` with a sentence if unusable."""
    if is_url(repository):
        return check_url(repository, base_branch, git=git, timeout=timeout)
    return check_local(repository, base_branch, git=git)
