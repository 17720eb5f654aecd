"""An agent that misbehaves with git, in the sandbox: the person's repository stays untouched.

The ``command`` runner runs a shell script as the agent, in bubblewrap, with the
person's repository path written into it: it tries to write there, to list it,
leaves a 10 MB binary and a 1.5 MB text file, and deletes its workspace's
``.git``. The step still ends with its commit; the diff answer is cut past the
limit and lists the files; the binary is listed, never inlined.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.agents.sandbox import bwrap_problem
from infra.local_engine import LocalEngine
from tests.api.agents.conftest import Agents, server_for
from tests.conftest import fresh_engine_db
from tests.support.git_repos import git, make_work_tree, snapshot

pytestmark = [
    pytest.mark.engine,
    pytest.mark.skipif(bwrap_problem("bwrap") is not None, reason="bubblewrap cannot run here"),
]


def agent_script(repo: Path) -> str:
    target = shlex.quote(str(repo))
    return "; ".join(
        [
            f"if echo pwned > {target}/pwned.txt 2>/dev/null; then echo wrote > escaped.txt;"
            " else echo denied > denied.txt; fi",
            f"ls -A {target} > seen.txt 2>&1 || true",
            "head -c 10485760 /dev/zero > big.bin",
            "yes 'a line of generated text' | head -n 60000 > long.txt",
            "rm -rf .git",
            "exit 0",
        ]
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_work_tree(tmp_path / "their repo")


@pytest.fixture
def command_agents(engine: LocalEngine, tmp_path: Path, repo: Path) -> Iterator[Agents]:
    root = tmp_path / "service"
    root.mkdir()
    server = server_for(
        fresh_engine_db(engine),
        engine,
        root,
        root / "workspaces",
        OMAKASE_RUNNER="command",
        OMAKASE_AGENT_COMMAND=shlex.join(["sh", "-c", agent_script(repo)]),
        OMAKASE_AGENT_SANDBOX="bwrap",
        OMAKASE_DIFF_MAX_BYTES="1000000",
    ).start()
    try:
        yield Agents(server=server, workspaces=root / "workspaces")
    finally:
        server.stop()


def test_an_agent_cannot_write_the_repository_and_its_step_still_commits(
    command_agents: Agents, repo: Path
) -> None:
    before = snapshot(repo)
    feature = command_agents.new_feature(name="Misbehave", project={"repository": str(repo)})
    finished = command_agents.wait_finished(feature)
    assert finished["status"] == "passing", finished["errorMessage"]
    assert snapshot(repo) == before
    assert not (repo / "pwned.txt").exists()

    head = finished["headCommit"]
    tree = set(git(repo, "ls-tree", "-r", "--name-only", head).splitlines())
    assert {"denied.txt", "seen.txt", "big.bin", "long.txt"} <= tree
    assert "escaped.txt" not in tree
    assert git(repo, "show", f"{head}:seen.txt") == ""  # the repository is hidden: empty

    runs = command_agents.runs(feature)
    first = runs[0]
    assert first["changes"]["files"] == 4  # the four files; the deleted .git is no change
    assert [r["changes"] for r in runs[1:]] == [None, None, None]  # same files: no commit
    with command_agents.http as client:
        cut = client.get(f"/api/agent-runs/{first['id']}/diff")
        whole = client.get(f"/api/agent-runs/{first['id']}/diff", params={"download": "1"})
        changes = client.get(f"/api/features/{feature['id']}/changes").json()
    assert cut.headers["x-diff-truncated"] == "true"
    assert "too large to show" in cut.text
    assert "big.bin (binary)" in cut.text
    assert whole.headers["x-diff-truncated"] == "false"
    assert "Binary files /dev/null and b/big.bin differ" in whole.text
    assert whole.text.count("+a line of generated text") == 60_000
    big = next(f for f in changes["files"] if f["path"] == "big.bin")
    assert big["binary"] is True
    assert (big["insertions"], big["deletions"]) == (0, 0)
