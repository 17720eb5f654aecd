"""The Changes page and the Merge button with Streamlit's AppTest (a ``FakeApi``).

The same against the real API, a real repository and a browser: tests/browser/test_changes.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.client import ApiError, DiffText
from core.models import AgentRunRole, AgentRunStatus, FeatureStatus
from core.repo_models import FeatureChanges, FileChange, StepChanges
from pages.lib.api import CLIENT_KEY
from pages.lib.chat_session import ACTIVE_KEY
from tests.support.fake_api import FakeApi

TIMEOUT_S = 30.0
ROOT = Path(__file__).resolve().parents[2]
BRANCH = "omakase/tonkotsu-broth-ab12"
STEP_DIFF = (
    "diff --git a/broth.py b/broth.py\n--- a/broth.py\n+++ b/broth.py\n@@ -1 +1 @@\n"
    "-old = 1\n+new = '<b>rich</b>'\n"
)


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


#: What the API sends instead of a patch past its size limit (api/git/diff.py).
CUT = (
    "# The patch is 2,345,678 bytes, too large to show here (limit 1,000,000).\n"
    "# Download the whole patch: add ?download=1 to this address\n"
    "# 2 files changed, +13 -1:\n#   A docs/design.md +12 -0\n#   M broth.py +1 -1\n"
)


def passing_feature(api: FakeApi) -> str:
    """A finished feature with two steps' changes; returns the coder's run id."""
    api.add_run(AgentRunRole.ARCHITECT, AgentRunStatus.COMPLETED, step=1)
    coder = api.add_run(AgentRunRole.CODER, AgentRunStatus.COMPLETED, step=2)
    api.end_feature(FeatureStatus.PASSING)
    api.feature = api.feature.model_copy(update={"branch": BRANCH, "head_commit": "h" * 40})
    api.project = api.project.model_copy(update={"repository": "/srv/ramen", "base_branch": "main"})
    design = FileChange(path="docs/design.md", status="A", insertions=12)
    code = FileChange(path="broth.py", status="M", insertions=1, deletions=1)
    api.repo.changes = FeatureChanges(
        feature_id=api.feature.id,
        branch=BRANCH,
        base_branch="main",
        base_commit="b" * 40,
        head_commit="h" * 40,
        steps=[
            StepChanges(
                run_id="run_1",
                step=1,
                role="architect",
                head="a" * 40,
                files=[design],
                insertions=12,
            ),
            StepChanges(
                run_id=coder.id,
                step=2,
                role="coder",
                head="c" * 40,
                files=[code],
                insertions=1,
                deletions=1,
            ),
        ],
        files=[design, code],
        insertions=13,
        deletions=1,
    )
    api.repo.diffs = {
        coder.id: DiffText(STEP_DIFF),
        "": DiffText(CUT, truncated=True),
    }
    return coder.id


def changes_page(api: FakeApi, **query: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages/changes.py"), default_timeout=TIMEOUT_S)
    at.session_state[CLIENT_KEY] = api
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception
    return at


def html(at: AppTest) -> str:
    return "\n".join(str(element.proto.body) for element in at.get("html"))


def test_a_steps_link_shows_its_files_and_its_escaped_diff(api: FakeApi) -> None:
    coder = passing_feature(api)
    at = changes_page(api, project=api.project.id, feature=api.feature.id, run=coder, chat="1")
    assert at.session_state[ACTIVE_KEY] == api.feature.id  # the conversation opens again
    assert at.selectbox(key=f"oma_changes_scope_{api.feature.id}").value == coder
    files = at.dataframe[0].value
    assert list(files["file"]) == ["broth.py"]
    assert list(files["change"]) == ["modified"]
    body = html(at)
    assert '<span class="oma-dl-add">+new = &#x27;&lt;b&gt;rich&lt;/b&gt;&#x27;</span>' in body
    assert "<b>rich</b>" not in body
    assert BRANCH in body
    assert not at.warning  # a short diff: nothing cut
    assert [b.proto.label for b in at.get("download_button")] == ["Download .patch"]

    at.selectbox(key=f"oma_changes_scope_{api.feature.id}").select("").run()
    assert list(at.dataframe[0].value["file"]) == ["docs/design.md", "broth.py"]
    assert at.warning[0].value == (  # X-Diff-Truncated: the API's sentence, the files above
        "The patch is 2,345,678 bytes, too large to show here (limit 1,000,000). "
        "The files are listed above."
    )
    assert "oma-diff-file" not in html(at)
    assert [b.proto.label for b in at.get("download_button")] == ["Download .patch"]


def test_merge_shows_the_merged_commit_and_a_refusal_as_it_is(api: FakeApi) -> None:
    passing_feature(api)
    api.repo.refusal = ApiError(409, "Commit or stash your changes first: README.md is modified.")
    at = changes_page(api, feature=api.feature.id)
    merge = at.button(key=f"oma_merge_changes_{api.feature.id}")
    assert merge.label == "Merge Tonkotsu broth into main"
    merge.click().run()
    assert [e.value for e in at.error] == [
        "Commit or stash your changes first: README.md is modified."
    ]
    assert api.repo.calls == [("merge", api.feature.id)]
    assert not at.button(key=f"oma_merge_changes_{api.feature.id}").disabled

    api.repo.refusal = None
    at.button(key=f"oma_merge_changes_{api.feature.id}").click().run()
    assert "Merged omakase/tonkotsu-broth-ab12 into main (fast-forward): c0ffee1" in [
        s.value for s in at.success
    ]
    assert "Tonkotsu broth: merged into main · c0ffee1" in [c.value for c in at.caption]
    assert not [b for b in at.button if b.key == f"oma_merge_changes_{api.feature.id}"]


def test_the_features_table_shows_branch_files_and_merge(api: FakeApi) -> None:
    passing_feature(api)
    api.project = api.project.model_copy(update={"repository": "git@example.com:ramen.git"})
    page = AppTest.from_file(str(ROOT / "pages/project_detail.py"), default_timeout=TIMEOUT_S)
    page.session_state[CLIENT_KEY] = api
    page.run()
    assert not page.exception
    features = page.dataframe[0].value
    assert list(features["branch"]) == [BRANCH]
    assert list(features["files"]) == [2]
    link = f'changes?project={api.project.id}&amp;feature={api.feature.id}">Tonkotsu broth</a>'
    assert link in html(page)
    assert page.button(key=f"oma_push_table_{api.feature.id}").label == f"Push {BRANCH}"
    page.button(key=f"oma_push_table_{api.feature.id}").click().run()
    assert api.repo.calls == [("push", api.feature.id)]
    assert f"Pushed {BRANCH} (c0ffee1)." in [s.value for s in page.success]


def test_no_branch_yet(api: FakeApi) -> None:
    at = changes_page(api)
    assert "No branch yet" in at.info[0].value


def test_new_project_shows_the_apis_sentence_as_it_is(api: FakeApi) -> None:
    sentence = "/nowhere is not a git repository: fatal: not a git repository"

    def refuse(*_: object, **kwargs: object) -> None:
        api.posts.append(str(kwargs))
        raise ApiError(422, sentence)

    setattr(api, "create_project", refuse)  # noqa: B010
    at = AppTest.from_file(str(ROOT / "pages/projects.py"), default_timeout=TIMEOUT_S)
    at.session_state[CLIENT_KEY] = api
    at.run()
    at.text_input[0].input("Webshop")
    at.text_input[1].input("/nowhere")
    at.text_input[2].input("trunk")
    at.button[0].click().run()
    assert [e.value for e in at.error] == [sentence]
    assert "'repository': '/nowhere', 'base_branch': 'trunk'" in api.posts[0]
    assert at.text_input[1].value == "/nowhere"  # kept, to be fixed rather than retyped


def test_a_project_card_names_its_repository(api: FakeApi) -> None:
    api.project = api.project.model_copy(
        update={"repository": "/srv/<b>ramen</b>", "base_branch": "main"}
    )
    at = AppTest.from_file(str(ROOT / "pages/projects.py"), default_timeout=TIMEOUT_S)
    at.session_state[CLIENT_KEY] = api
    at.run()
    assert "📁 /srv/&lt;b&gt;ramen&lt;/b&gt; · main</div>" in html(at)
