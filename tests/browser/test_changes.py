"""The Changes view and Merge in a real browser, on a real git repository.

A demo pipeline runs on a person's work tree (steps of 0.2 s); the browser
opens its conversation, clicks the coder's step divider (its change and commit)
into that step's diff with the conversation kept, reads it, switches to the
whole branch, downloads the .patch and clicks Merge; the person's ``main`` then points at the
feature's head and their checked-out files carry the agents' work.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pygit2
import pytest
from playwright.sync_api import Page, expect

from api.agents.demo_work import slug
from core.models import AgentRunRole, FeatureStatus
from tests.browser.conftest import Stack
from tests.support.git_repos import make_work_tree

pytestmark = [pytest.mark.browser, pytest.mark.engine, pytest.mark.slow]

FEATURE = "Menu page"
PASS_TIMEOUT_S = 60.0
POLL_S = 0.2
SIDEBAR = 'section[data-testid="stSidebar"]'


def test_a_steps_diff_then_merge_moves_the_persons_main(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    repo = make_work_tree(tmp_path / "shop")
    client = stack.client
    project = client.create_project("Noodle bar", repository=str(repo), base_branch="main")
    feature = client.create_feature(project.id, FEATURE, description="[step-seconds=0.2]")
    client.start_feature(feature.id)
    deadline = time.monotonic() + PASS_TIMEOUT_S
    while client.get_feature(feature.id).status is not FeatureStatus.PASSING:
        assert time.monotonic() < deadline, "the feature did not pass in time"
        time.sleep(POLL_S)
    coder = next(r for r in client.list_runs(project.id) if r.role is AgentRunRole.CODER)
    assert coder.changes is not None
    name = slug(FEATURE)

    # The conversation, opened from the features tab: the coder's divider says what it
    # committed and links its diff; the Changes page opens on it, the conversation kept.
    page.goto(f"{stack.dashboard.url}/project_detail?project={project.id}")
    page.get_by_role("tab", name="Features").click()
    page.get_by_role("button", name=f"💬 {FEATURE}").click()
    divider = page.locator(f"{SIDEBAR} .oma-step-change").nth(1)
    expect(divider).to_have_text(
        f"2 files +{coder.changes.insertions} \u2212{coder.changes.deletions} · "
        f"{coder.changes.head[:7]}"
    )
    divider.click()
    expect(page).to_have_url(re.compile(f"/changes\\?.*run={coder.id}"))
    expect(page.locator(".oma-chat-title")).to_contain_text(FEATURE)
    expect(page.locator(".oma-diff-path")).to_have_text(["notes/02-coder.md", f"ramen/{name}.py"])
    expect(page.locator(".oma-dl-add", has_text=f"+def {name}(items")).to_be_visible()
    expect(page.locator(".oma-dl-del", has_text="-# TODO(Nori): implement it.")).to_be_visible()

    page.locator(f".st-key-oma_changes_scope_{feature.id}").click()  # the scope selector
    page.get_by_role("option", name="Whole branch").click()
    expect(page.locator(".oma-diff-path")).to_have_count(8)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download .patch").click()
    patch = Path(download.value.path()).read_text()
    assert patch.count("diff --git ") == 8

    page.get_by_role("button", name=f"Merge {FEATURE} into main").click()
    expect(page.get_by_text("into main (fast-forward)")).to_be_visible()
    merged = client.get_feature(feature.id)
    assert merged.merged_commit is not None
    person = pygit2.Repository(str(repo))
    assert str(person.branches["main"].target) == merged.merged_commit == merged.head_commit
    assert (repo / "tests" / f"test_{name}.py").exists()  # main is checked out: updated
    done = f"{FEATURE}: merged into main · {merged.merged_commit[:7]}"
    expect(page.get_by_text(done)).to_be_visible()
