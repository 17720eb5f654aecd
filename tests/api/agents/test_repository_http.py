"""Issue 17 end to end over real HTTP: the person's repository in, a reviewed branch out.

The demo runner's scripted agents write real files (their notes) in their
workspace; each step becomes a commit on the feature's branch in the person's
repository, with trailers naming the run, the feature and the messages the step
took; the diff and changes routes read it; Merge moves the base branch.
Repositories are real: a local work tree, and a bare one over file://.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from api.store.db import Db
from infra.local_engine import LocalEngine
from tests.api.agents.conftest import Agents, server_for, wait_for
from tests.conftest import fresh_engine_db
from tests.support.git_repos import git, head_of, make_bare_remote, make_work_tree, snapshot

pytestmark = pytest.mark.engine

#: The person's own agent files: kept byte for byte, never edited by the service.
THEIR_FILES = {
    "README.md": "# Ramen shop\n",
    "CLAUDE.md": "# Our house rules\nUse tabs.\n",
    ".mcp.json": '{"mcpServers": {"theirs": {"command": "their-server"}}}\n',
    ".codex/config.toml": 'model = "their-model"\n',
}


def trailers(repo: Path, commit: str, key: str) -> list[str]:
    return git(repo, "log", "-1", f"--format=%(trailers:key={key},valueonly)", commit).split()


def test_a_feature_on_a_work_tree_commits_each_step_and_merges(
    agents: Agents, tmp_path: Path
) -> None:
    repo = make_work_tree(tmp_path / "shop", THEIR_FILES)
    (repo / "wip.txt").write_text("the person's own untracked work\n")
    base = head_of(repo)
    before = snapshot(repo)
    feature = agents.new_feature(
        "[await-message-coder]", name="Login sessions ☕", project={"repository": str(repo)}
    )
    coder = agents.wait_active(feature, "coder")
    with agents.http as client:
        posted = client.post(
            f"/api/agent-runs/{coder['id']}/messages", json={"content": "Use SQLite"}
        )
    assert posted.status_code == 201, posted.text
    message = posted.json()
    finished = agents.wait_finished(feature)
    assert finished["status"] == "passing", finished["errorMessage"]

    branch = finished["branch"]
    assert branch.startswith("omakase/login-sessions-")
    assert finished["baseCommit"] == base
    assert head_of(repo, f"refs/heads/{branch}") == finished["headCommit"]
    assert snapshot(repo) == before  # work tree, index, HEAD, hooks, config: untouched

    runs = agents.runs(feature)
    assert all(r["changes"] is not None for r in runs), [r["changes"] for r in runs]
    coder_run = next(r for r in runs if r["role"] == "coder")
    head = coder_run["changes"]["head"]
    subject = git(repo, "log", "-1", "--format=%s", head)
    assert subject.startswith("Step 2 · coder: ")
    assert git(repo, "log", "-1", "--format=%an", head) == "Nori (coder)"
    assert trailers(repo, head, "Omakase-Run") == [coder_run["id"]]
    assert trailers(repo, head, "Omakase-Feature") == [feature["id"]]
    assert trailers(repo, head, "Omakase-Message") == [message["id"]]
    stored = next(m for m in agents.messages(coder["id"]) if m["id"] == message["id"])
    assert stored["receipt"]["commit"] == head

    tree = git(repo, "ls-tree", "-r", "--name-only", finished["headCommit"]).splitlines()
    assert not [p for p in tree if p.startswith(".omakase") or p.startswith(".claude/")]
    for name, text in THEIR_FILES.items():
        assert git(repo, "show", f"{finished['headCommit']}:{name}") + "\n" == text

    (repo / "README.md").write_text("# Ramen shop\nthe person's edit, not committed\n")
    with agents.http as client:
        dirty = client.post(f"/api/features/{feature['id']}/merge")
    assert dirty.status_code == 409
    assert "commit or stash your changes first" in dirty.json()["detail"]
    assert head_of(repo) == base  # nothing moved, the edit is still there
    assert "not committed" in (repo / "README.md").read_text()
    git(repo, "checkout", "--", "README.md")
    with agents.http as client:
        diff = client.get(f"/api/agent-runs/{coder_run['id']}/diff")
        changes = client.get(f"/api/features/{feature['id']}/changes").json()
        whole = client.get(f"/api/features/{feature['id']}/diff", params={"download": "1"})
        merged = client.post(f"/api/features/{feature['id']}/merge")
        again = client.post(f"/api/features/{feature['id']}/merge")
        push = client.post(f"/api/features/{feature['id']}/push")
    assert diff.status_code == 200
    assert diff.headers["content-type"].startswith("text/x-diff")
    assert "+++ b/notes/02-coder.md" in diff.text
    assert [s["role"] for s in changes["steps"]] == ["architect", "coder", "reviewer", "tester"]
    assert changes["steps"][1]["files"][0]["path"] == "notes/02-coder.md"
    assert len(changes["files"]) == sum(len(s["files"]) for s in changes["steps"])
    assert "attachment" in whole.headers["content-disposition"]
    assert whole.text.count("diff --git") == len(changes["files"])

    assert merged.status_code == 200, merged.text
    assert merged.json()["how"] == "fast-forward"
    assert head_of(repo) == finished["headCommit"]  # main checked out: the work tree follows
    assert (repo / "notes" / "04-tester.md").exists()
    assert (repo / "wip.txt").exists()
    assert agents.feature(feature["id"])["mergedCommit"] == finished["headCommit"]
    assert again.status_code == 409
    assert "merged already" in again.json()["detail"]
    assert push.status_code == 409
    assert "no remote" in push.json()["detail"]


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: p.mkdir() or p, "is not a git repository"),
        (lambda p: (p.mkdir(), git(p, "init", "-q"))[0] or p, "has no commit yet"),
        (lambda p: make_work_tree(p), "The branch 'nope' does not exist"),
        (lambda p: p.as_uri(), "could not be reached"),
    ],
    ids=["not-a-repository", "no-commit", "no-base-branch", "unreachable-url"],
)
def test_a_repository_that_cannot_be_used_is_a_422_with_a_sentence(
    agents: Agents, tmp_path: Path, make: Any, words: str
) -> None:
    made = make(tmp_path / "thing")
    repository = made if isinstance(made, str) else str(made)
    body: dict[str, Any] = {"name": "bad repo", "repository": repository}
    if words.startswith("The branch"):
        body["baseBranch"] = "nope"
    with agents.http as client:
        answer = client.post("/api/projects", json=body)
    assert answer.status_code == 422
    assert words in answer.json()["detail"]


def test_a_repository_that_vanished_fails_the_step_with_a_sentence(
    agents: Agents, tmp_path: Path
) -> None:
    repo = make_work_tree(tmp_path / "gone")
    with agents.http as client:
        project = client.post("/api/projects", json={"name": "p", "repository": str(repo)}).json()
        shutil.rmtree(repo)
        feature = client.post(
            f"/api/projects/{project['id']}/features", json={"name": "Orphan"}
        ).json()
    finished = agents.wait_finished(feature)
    assert finished["status"] == "failing"
    runs = agents.runs(feature)
    assert [r["attempt"] for r in runs] == [1, 2]
    assert all("no longer exists" in r["errorMessage"] for r in runs)


@pytest.fixture(scope="module")
def url_agents(engine: LocalEngine, tmp_path_factory: pytest.TempPathFactory) -> Any:
    db: Db = fresh_engine_db(engine)
    root = tmp_path_factory.mktemp("url-agents")
    server = server_for(db, engine, root, root / "workspaces").start()
    try:
        yield Agents(server=server, workspaces=root / "workspaces")
    finally:
        server.stop()


def test_a_url_repository_gets_its_branch_pushed_and_the_merge(
    url_agents: Agents, tmp_path: Path
) -> None:
    source = make_work_tree(tmp_path / "src", {"app.py": "print('v1')\n"})
    url = make_bare_remote(tmp_path / "remote.git", source)
    remote = tmp_path / "remote.git"
    feature = url_agents.new_feature(name="Remote work", project={"repository": url})
    finished = url_agents.wait_finished(feature)
    assert finished["status"] == "passing", finished["errorMessage"]
    assert git(remote, "rev-parse", f"refs/heads/{finished['branch']}") == finished["headCommit"]
    # The remote's main moves on meanwhile: the merge is a merge commit, pushed.
    git(source, "commit", "-q", "--allow-empty", "-m", "someone else's work")
    git(source, "push", "-q", str(remote), "main")
    with url_agents.http as client:
        pushed = client.post(f"/api/features/{feature['id']}/push")
        merged = client.post(f"/api/features/{feature['id']}/merge")
    assert pushed.status_code == 200, pushed.text
    assert merged.status_code == 200, merged.text
    assert merged.json()["how"] == "merge"
    assert git(remote, "rev-parse", "refs/heads/main") == merged.json()["commit"]
    parents = git(remote, "log", "-1", "--format=%P", "main").split()
    assert finished["headCommit"] in parents


def test_another_machine_continues_the_feature_from_the_branch(
    engine: LocalEngine, tmp_path: Path
) -> None:
    """The API stops mid-step; another process with another workspace root (another
    machine, a wiped disk) resumes: it rebuilds the workspace from the branch."""
    db: Db = fresh_engine_db(engine)
    repo = make_work_tree(tmp_path / "shop")
    for machine in ("a", "b"):
        (tmp_path / machine).mkdir()
    first = Agents(
        server_for(db, engine, tmp_path / "a", tmp_path / "a" / "ws").start(), tmp_path / "a" / "ws"
    )
    try:
        feature = first.new_feature(
            "[hold-once-reviewer]", name="Two machines", project={"repository": str(repo)}
        )
        first.wait_active(feature, "reviewer")
        wait_for(lambda: coder_committed(first, feature), "the coder's commit")
    finally:
        first.server.stop()
    shutil.rmtree(tmp_path / "a" / "ws")  # that machine is gone
    second = Agents(
        server_for(db, engine, tmp_path / "b", tmp_path / "b" / "ws").start(), tmp_path / "b" / "ws"
    )
    try:
        finished = second.wait_finished(feature)
    finally:
        second.server.stop()
    assert finished["status"] == "passing", finished["errorMessage"]
    tree = git(repo, "ls-tree", "-r", "--name-only", finished["headCommit"]).splitlines()
    assert {"notes/02-coder.md", "notes/04-tester.md"} <= set(tree)  # nothing was lost
    assert (tmp_path / "b" / "ws" / feature["id"] / "notes" / "02-coder.md").exists()


def coder_committed(agents: Agents, feature: dict[str, Any]) -> bool:
    runs = agents.runs(feature)
    return any(r["role"] == "coder" and r.get("changes") for r in runs)


def test_a_refused_push_keeps_the_branch_and_says_so(url_agents: Agents, tmp_path: Path) -> None:
    source = make_work_tree(tmp_path / "src")
    url = make_bare_remote(tmp_path / "remote.git", source)
    hook = tmp_path / "remote.git" / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'pushes are closed today' >&2\nexit 1\n")
    hook.chmod(0o755)
    feature = url_agents.new_feature(name="Closed remote", project={"repository": url})
    finished = url_agents.wait_finished(feature)
    assert finished["status"] == "passing", finished["errorMessage"]
    mirror = url_agents.workspaces / ".repos" / f"{finished['projectId']}.git"
    assert git(mirror, "rev-parse", f"refs/heads/{finished['branch']}") == finished["headCommit"]
    first = url_agents.runs(feature)[0]
    errors = [m["content"] for m in url_agents.messages(first["id"]) if m["type"] == "error"]
    assert any("the push failed" in e and "pushes are closed today" in e for e in errors), errors
    with url_agents.http as client:
        pushed = client.post(f"/api/features/{feature['id']}/push")
    assert pushed.status_code == 502
    assert "pushes are closed today" in pushed.json()["detail"]
