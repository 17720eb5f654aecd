"""``ApiClient``'s repository routes against a real API, a real pipeline and a real work tree.

One demo pipeline on a person's git repository proves the client's side of
contract v3 end to end: create with ``repository``/``baseBranch`` (and the 422),
the changes per step, the step and branch diffs, the whole-patch download, the
push refused for a local path, and the merge that moves the person's ``main``; and,
without a server, how the client reads a cut diff, asks for a download and a 409.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pygit2
import pytest

from api.agents.demo_work import slug
from core.client import ApiClient, ApiError, DiffText
from core.models import Feature, FeatureStatus
from infra.local_engine import LocalEngine
from tests.api.agents.conftest import server_for, wait_for
from tests.conftest import TOKEN, fresh_engine_db
from tests.support.git_repos import make_work_tree


@pytest.mark.engine
def test_a_feature_on_a_work_tree_through_the_client(engine: LocalEngine, tmp_path: Path) -> None:
    repo = make_work_tree(tmp_path / "shop")
    base = str(pygit2.Repository(str(repo)).head.target)
    db = fresh_engine_db(engine)
    # A small limit: one step's diff fits, the whole branch's four files do not.
    server = server_for(db, engine, tmp_path, tmp_path / "ws", OMAKASE_DIFF_MAX_BYTES="1000")
    server.start()
    try:
        with ApiClient(server.url, TOKEN) as api:
            with pytest.raises(ApiError) as refused:
                api.create_project("Nowhere", repository=str(tmp_path / "nothing"))
            assert refused.value.status == 422
            project = api.create_project("Shop", repository=str(repo), base_branch="main")
            assert (project.repository, project.base_branch) == (str(repo), "main")
            feature = api.create_feature(project.id, "Menu page", description="[step-seconds=0.2]")

            def passing() -> Feature | None:
                current = api.get_feature(feature.id)
                return current if current.status is FeatureStatus.PASSING else None

            done = wait_for(passing, "the feature to pass")
            assert done.branch is not None
            assert done.branch.startswith("omakase/menu-page-")

            changes = api.feature_changes(feature.id)
            assert [s.role for s in changes.steps] == ["architect", "coder", "reviewer", "tester"]
            name = slug("Menu page")
            assert {f.path for f in changes.files} >= {
                f"docs/design/{name}.md",
                f"ramen/{name}.py",
                f"reviews/{name}.md",
                f"tests/test_{name}.py",
            }
            coder = next(s for s in changes.steps if s.role == "coder")
            assert [(f.path, f.status) for f in coder.files] == [
                ("notes/02-coder.md", "A"),  # the demo agent's step note
                (f"ramen/{name}.py", "M"),
            ]
            runs = {r.id: r for r in api.list_runs(project.id)}
            assert runs[coder.run_id].changes is not None
            assert runs[coder.run_id].changes.files == 2  # type: ignore[union-attr]

            step_diff = api.run_diff(coder.run_id)
            assert not step_diff.truncated
            assert f"+def {name}(items: list[str]) -> list[str]:" in step_diff.text
            assert "-# TODO(Nori): implement it." in step_diff.text
            cut = api.feature_diff(feature.id)
            assert cut.truncated
            assert cut.text.startswith("# The patch is ")
            assert f"#   M ramen/{name}.py" not in cut.text  # new on the branch: added
            assert f"#   A ramen/{name}.py" in cut.text
            whole = api.download_feature_diff(feature.id).decode()
            assert whole.count("diff --git ") == 8  # four steps' notes and work
            assert len(whole.encode()) > 1000

            with pytest.raises(ApiError) as no_remote:
                api.push_feature(feature.id)
            assert no_remote.value.status == 409
            merged = api.merge_feature(feature.id)
            assert merged.how == "fast-forward"
            assert str(pygit2.Repository(str(repo)).branches["main"].target) == merged.commit
            assert merged.commit != base
            assert (repo / "ramen" / f"{name}.py").exists()  # main is checked out: updated
            assert api.get_feature(feature.id).merged_commit == merged.commit
    finally:
        server.stop()


def test_a_cut_diff_is_flagged_and_the_download_asks_for_all_of_it() -> None:
    """The client's reading of the diff routes' contract: the header, the query, the 409."""
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.path.endswith("/merge"):
            return httpx.Response(409, json={"detail": "Commit or stash your changes first."})
        if request.url.params.get("download") == "1":
            return httpx.Response(200, text="all of it", headers={"Content-Disposition": "a"})
        return httpx.Response(200, text="the start", headers={"X-Diff-Truncated": "true"})

    http = httpx.Client(base_url="http://api", transport=httpx.MockTransport(answer))
    with ApiClient("http://api", TOKEN, http=http) as api:
        assert api.feature_diff("feat_1") == DiffText("the start", truncated=True)
        assert api.download_run_diff("run_1") == b"all of it"
        with pytest.raises(ApiError) as refused:
            api.merge_feature("feat_1")
    assert refused.value.status == 409
    assert refused.value.detail == "Commit or stash your changes first."
    assert seen == [
        "http://api/api/features/feat_1/diff",
        "http://api/api/agent-runs/run_1/diff?download=1",
        "http://api/api/features/feat_1/merge",
    ]
