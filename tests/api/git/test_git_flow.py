"""api.git on real repositories: branch, workspace, step commit, diff, merge, push."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pygit2
import pytest

from api.git.cli import GitError
from api.git.commit import commit_message, commit_workspace
from api.git.diff import bounded_patch, summarize
from api.git.merge import DirtyWorkTreeError, MergeConflictError, merge_branch
from api.git.upstream import Upstream, ensure_upstream, push_branch
from api.git.workspace import branch_name, prepare_workspace, start_branch
from core.models import Feature
from tests.support.git_repos import git, head_of, make_bare_remote, make_work_tree, snapshot

AUTHOR = ("Nori (coder)", "coder@omakase.local")


def feature(name: str = "Login sessions", branch: str | None = None) -> Feature:
    return Feature(
        id="feat-abc123",
        project_id="prj-1",
        name=name,
        created_at="2026-01-01T00:00:00Z",
        updated_at="2026-01-01T00:00:00Z",
        branch=branch,
    )


def users(repo: Path) -> Upstream:
    return Upstream(path=repo, base_branch="main", remote_url=None, is_users=True)


def step(upstream: Upstream, workspace: Path, branch: str, head: str) -> None:
    prepare_workspace(upstream, workspace, branch=branch, head=head, identity=AUTHOR, git="git")


def commit(upstream: Upstream, workspace: Path, branch: str, start: str, message: str = "Step 1"):  # type: ignore[no-untyped-def]
    msg = commit_message(
        subject=message,
        trailers=[("Omakase-Run", "run-1"), ("Omakase-Message", "m1"), ("Omakase-Message", "m2")],
    )
    return commit_workspace(
        workspace, upstream, branch=branch, started_at=start, author=AUTHOR, message=msg, git="git"
    )


def test_branch_names_are_readable_ascii_refs() -> None:
    assert branch_name("Login sessions", "feat-0a1b2c3d") == "omakase/login-sessions-1b2c3d"
    assert branch_name("Crème brûlée ☕ menu!", "feat-XY") == "omakase/creme-brulee-menu-xy"
    assert branch_name("日本語", "feat-123456") == "omakase/feature-123456"


def test_a_step_commits_what_the_agent_left_and_never_touches_the_person(tmp_path: Path) -> None:
    repo = make_work_tree(
        tmp_path / "shop", {"app.py": "print('hi')\n", "old.txt": "x\n", ".gitignore": "*.log\n"}
    )
    (repo / "scratch.txt").write_text("the person's own uncommitted file\n")
    before = snapshot(repo)
    upstream = users(repo)
    branch = branch_name("Login sessions", "feat-abc123")
    start = start_branch(upstream, branch, git="git")
    assert start.base_commit == head_of(repo)
    workspace = tmp_path / "ws" / "feat-abc123"
    step(upstream, workspace, branch, start.head_commit)
    (workspace / "app.py").write_text("print('hello')\nprint('sessions')\n")
    (workspace / "old.txt").unlink()
    (workspace / "my notes é.md").write_text("ünïcode and spaces\n")
    (workspace / "logo.bin").write_bytes(bytes(range(256)) * 4)
    (workspace / "debug.log").write_text("ignored\n")

    done = commit(upstream, workspace, branch, start.head_commit, "Step 2 · coder: added sessions")

    assert done is not None
    assert done.service_commit == done.head
    assert head_of(repo, f"refs/heads/{branch}") == done.head  # the branch is in the repository
    assert snapshot(repo) == before  # work tree, index, HEAD, hooks, config: untouched
    made = pygit2.Repository(str(repo)).get(done.head)
    assert isinstance(made, pygit2.Commit)
    assert made.author.name == "Nori (coder)"
    assert made.committer.name == "Omakase"
    trailers = git(
        repo, "log", "-1", "--format=%(trailers:key=Omakase-Message,valueonly)", done.head
    )
    assert trailers.split() == ["m1", "m2"]
    summary = summarize(pygit2.Repository(str(repo)), done.base, done.head)
    by_path = {f.path: f for f in summary.files}
    assert set(by_path) == {"app.py", "old.txt", "my notes é.md", "logo.bin"}
    assert by_path["old.txt"].status == "D"
    assert by_path["logo.bin"].binary
    assert by_path["logo.bin"].insertions == 0
    assert (by_path["app.py"].insertions, by_path["app.py"].deletions) == (2, 1)
    # No change -> no commit.
    assert commit(upstream, workspace, branch, done.head) is None


def test_the_agents_own_commits_are_kept_and_rewritten_history_is_not(tmp_path: Path) -> None:
    repo = make_work_tree(tmp_path / "shop")
    upstream = users(repo)
    branch = "omakase/x-1"
    start = start_branch(upstream, branch, git="git")
    workspace = tmp_path / "ws"
    step(upstream, workspace, branch, start.head_commit)
    (workspace / "a.txt").write_text("a\n")
    git(workspace, "add", "a.txt")
    git(workspace, "commit", "-qm", "agent's own commit")
    own = head_of(workspace)
    (workspace / "b.txt").write_text("b\n")
    done = commit(upstream, workspace, branch, start.head_commit)
    assert done is not None
    assert done.commits[0] == own
    assert len(done.commits) == 2

    # Next step: the agent resets to the first commit and amends history.
    step(upstream, workspace, branch, done.head)
    git(workspace, "reset", "--hard", "--quiet", start.head_commit)
    (workspace / "c.txt").write_text("c\n")
    again = commit(upstream, workspace, branch, done.head)
    assert again is not None
    assert again.note is not None
    assert "not taken" in again.note
    assert pygit2.Repository(str(repo)).descendant_of(
        pygit2.Oid(hex=again.head), pygit2.Oid(hex=done.head)
    )


def test_a_deleted_dot_git_is_rebuilt_and_the_step_still_commits(tmp_path: Path) -> None:
    repo = make_work_tree(tmp_path / "shop")
    upstream = users(repo)
    start = start_branch(upstream, "omakase/y-1", git="git")
    workspace = tmp_path / "ws"
    step(upstream, workspace, "omakase/y-1", start.head_commit)
    (workspace / "new.txt").write_text("kept\n")
    shutil.rmtree(workspace / ".git")
    done = commit(upstream, workspace, "omakase/y-1", start.head_commit)
    assert done is not None
    assert done.note is not None
    files = {f.path for f in summarize(pygit2.Repository(str(repo)), done.base, done.head).files}
    assert files == {"new.txt"}


def test_a_workspace_is_rebuilt_from_the_branch_on_another_machine(tmp_path: Path) -> None:
    repo = make_work_tree(tmp_path / "shop")
    upstream = users(repo)
    start = start_branch(upstream, "omakase/z-1", git="git")
    first = tmp_path / "machine-a"
    step(upstream, first, "omakase/z-1", start.head_commit)
    (first / "work.txt").write_text("step 1\n")
    done = commit(upstream, first, "omakase/z-1", start.head_commit)
    assert done is not None
    second = tmp_path / "machine-b"
    assert prepare_workspace(
        upstream, second, branch="omakase/z-1", head=done.head, identity=AUTHOR, git="git"
    )
    assert (second / "work.txt").read_text() == "step 1\n"
    assert not list(pygit2.Repository(str(second)).remotes.names())  # no path of the person's


def test_bounded_patch_lists_files_past_the_limit(tmp_path: Path) -> None:
    repo = make_work_tree(tmp_path / "shop")
    upstream = users(repo)
    start = start_branch(upstream, "omakase/big-1", git="git")
    workspace = tmp_path / "ws"
    step(upstream, workspace, "omakase/big-1", start.head_commit)
    (workspace / "big.txt").write_text("line\n" * 200_000)
    done = commit(upstream, workspace, "omakase/big-1", start.head_commit)
    assert done is not None
    r = pygit2.Repository(str(repo))
    cut = bounded_patch(r, done.base, done.head, max_bytes=10_000, download_hint="?download=1")
    assert cut.truncated
    assert cut.size > 1_000_000
    assert "too large to show" in cut.text
    assert "A big.txt +200000 -0" in cut.text
    whole = bounded_patch(r, done.base, done.head, max_bytes=10**8, download_hint="")
    assert not whole.truncated
    assert whole.text.count("\n+line") == 200_000


def _feature_branch(tmp_path: Path, repo: Path, name: str, files: dict[str, str]) -> str:
    upstream = users(repo)
    start = start_branch(upstream, name, git="git")
    workspace = tmp_path / name.replace("/", "-")
    step(upstream, workspace, name, start.head_commit)
    for path, text in files.items():
        (workspace / path).write_text(text)
    done = commit(upstream, workspace, name, start.head_commit)
    assert done is not None
    return str(done.head)


def test_merge_fast_forwards_the_checked_out_base_and_updates_the_work_tree(tmp_path: Path) -> None:
    repo = make_work_tree(tmp_path / "shop")
    head = _feature_branch(tmp_path, repo, "omakase/ff-1", {"feature.txt": "done\n"})
    merged = merge_branch(
        users(repo), branch="omakase/ff-1", message="Merge", git="git", timeout=30
    )
    assert (merged.how, merged.commit) == ("fast-forward", head)
    assert head_of(repo) == head
    assert (repo / "feature.txt").read_text() == "done\n"
    assert git(repo, "status", "--porcelain") == ""


def test_merge_refuses_a_dirty_work_tree_and_a_conflict_changing_nothing(tmp_path: Path) -> None:
    repo = make_work_tree(tmp_path / "shop", {"app.py": "v1\n"})
    _feature_branch(tmp_path, repo, "omakase/c-1", {"app.py": "agent's v2\n"})
    (repo / "app.py").write_text("person's edit, not committed\n")
    before = snapshot(repo)
    with pytest.raises(DirtyWorkTreeError, match="commit or stash your changes first"):
        merge_branch(users(repo), branch="omakase/c-1", message="Merge", git="git", timeout=30)
    assert snapshot(repo) == before
    git(repo, "commit", "-qam", "person's v2")
    before = snapshot(repo)
    with pytest.raises(MergeConflictError, match=r"conflicts in 1 file\(s\): app.py"):
        merge_branch(users(repo), branch="omakase/c-1", message="Merge", git="git", timeout=30)
    assert snapshot(repo) == before


def test_merge_makes_a_merge_commit_when_the_base_moved(tmp_path: Path) -> None:
    repo = make_work_tree(tmp_path / "shop")
    head = _feature_branch(tmp_path, repo, "omakase/m-1", {"feature.txt": "x\n"})
    (repo / "other.txt").write_text("person\n")
    git(repo, "add", "other.txt")
    git(repo, "commit", "-qm", "person moved on")
    git(repo, "checkout", "-q", "-b", "elsewhere")  # base not checked out: only the ref moves
    merged = merge_branch(
        users(repo), branch="omakase/m-1", message="Merge m-1", git="git", timeout=30
    )
    assert merged.how == "merge"
    parents = git(repo, "log", "-1", "--format=%P", "main").split()
    assert parents[1] == head
    assert head_of(repo, "main") == merged.commit
    assert git(repo, "status", "--porcelain") == ""


def test_a_url_repository_gets_the_branch_pushed_and_the_merge(tmp_path: Path) -> None:
    source = make_work_tree(tmp_path / "origin-src")
    url = make_bare_remote(tmp_path / "remote.git", source)
    upstream = Upstream(
        path=tmp_path / "mirror.git", base_branch="main", remote_url=url, is_users=False
    )
    ensure_upstream(upstream, feature=feature(), git="git", timeout=30)
    start = start_branch(upstream, "omakase/u-1", git="git")
    workspace = tmp_path / "ws"
    step(upstream, workspace, "omakase/u-1", start.head_commit)
    (workspace / "remote.txt").write_text("pushed\n")
    done = commit(upstream, workspace, "omakase/u-1", start.head_commit)
    assert done is not None
    push_branch(upstream, "omakase/u-1", git="git", timeout=30)
    remote = tmp_path / "remote.git"
    assert git(remote, "rev-parse", "refs/heads/omakase/u-1") == done.head
    merged = merge_branch(upstream, branch="omakase/u-1", message="Merge", git="git", timeout=30)
    assert git(remote, "rev-parse", "refs/heads/main") == merged.commit == done.head


def test_an_unreachable_remote_is_a_sentence(tmp_path: Path) -> None:
    upstream = Upstream(
        path=tmp_path / "mirror.git",
        base_branch="main",
        remote_url=(tmp_path / "nowhere.git").as_uri(),
        is_users=False,
    )
    with pytest.raises(GitError, match="Could not clone the repository"):
        ensure_upstream(upstream, feature=feature(), git="git", timeout=30)


def test_git_is_installed() -> None:
    assert subprocess.run(["git", "--version"], capture_output=True, check=False).returncode == 0


def test_a_symlink_planted_in_dot_git_never_redirects_the_services_writes(tmp_path: Path) -> None:
    repo = make_work_tree(tmp_path / "shop")
    elsewhere = make_work_tree(tmp_path / "elsewhere")
    before = snapshot(elsewhere)
    upstream = users(repo)
    start = start_branch(upstream, "omakase/trap-1", git="git")
    workspace = tmp_path / "ws"
    step(upstream, workspace, "omakase/trap-1", start.head_commit)
    heads = workspace / ".git" / "refs" / "heads"
    shutil.rmtree(heads)
    heads.symlink_to(elsewhere / ".git" / "refs" / "heads")
    (workspace / "work.txt").write_text("done\n")
    done = commit(upstream, workspace, "omakase/trap-1", start.head_commit)
    assert done is not None
    assert done.note is not None
    assert "rebuilt" in done.note
    assert snapshot(elsewhere) == before
    assert not (elsewhere / ".git" / "refs" / "heads" / "omakase").exists()
    assert head_of(repo, "refs/heads/omakase/trap-1") == done.head
