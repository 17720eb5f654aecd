"""Checking a project's repository on create: the sentences a person reads (api.git.source)."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.git.cli import redact
from api.git.source import RepositoryProblem, check_repository, is_url
from tests.support.git_repos import git, make_bare_remote, make_work_tree


def check(repository: str, base: str | None = None):  # type: ignore[no-untyped-def]
    return check_repository(repository, base, git="git", timeout=10)


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("git@github.com:me/shop.git", True),
        ("ssh://git@host/shop.git", True),
        ("https://host/shop.git", True),
        ("file:///srv/shop.git", True),
        ("/home/me/shop", False),
        ("shop", False),
        ("C:/shop", False),
    ],
)
def test_urls_and_paths_are_told_apart(text: str, url: bool) -> None:
    assert is_url(text) is url


def test_credentials_never_reach_a_sentence() -> None:
    assert redact("fatal: https://me:s3cret@host/x.git not found") == (
        "fatal: https://***@host/x.git not found"
    )


def test_a_work_tree_defaults_to_its_checked_out_branch(tmp_path: Path) -> None:
    repo = make_work_tree(tmp_path / "shop", branch="trunk")
    source = check(str(repo))
    assert (source.location, source.is_url, source.base_branch) == (
        str(repo.resolve()),
        False,
        "trunk",
    )


def test_a_url_defaults_to_the_remotes_head(tmp_path: Path) -> None:
    url = make_bare_remote(tmp_path / "remote.git", make_work_tree(tmp_path / "src"))
    source = check(url)
    assert (source.location, source.is_url, source.base_branch) == (url, True, "main")


@pytest.mark.parametrize(
    ("setup", "words"),
    [
        (lambda p: str(p.relative_to(p.parent)), "must be an absolute path"),
        (lambda p: str(p / "missing"), "is not a folder on this machine"),
        (lambda p: str(make_work_tree(p) / "sub"), "is inside the git repository"),
    ],
    ids=["relative", "missing", "subfolder"],
)
def test_unusable_paths_say_why(tmp_path: Path, setup, words: str) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "shop"
    text = setup(target)
    if text.endswith("/sub"):
        Path(text).mkdir()
    with pytest.raises(RepositoryProblem, match=words):
        check(text)


def test_a_detached_head_needs_a_base_branch(tmp_path: Path) -> None:
    repo = make_work_tree(tmp_path / "shop")
    git(repo, "checkout", "-q", "--detach")
    with pytest.raises(RepositoryProblem, match="detached HEAD"):
        check(str(repo))
    assert check(str(repo), "main").base_branch == "main"


def test_a_branch_name_git_refuses_is_a_sentence(tmp_path: Path) -> None:
    repo = make_work_tree(tmp_path / "shop")
    with pytest.raises(RepositoryProblem, match="is not a valid branch name"):
        check(str(repo), "bad..name")
