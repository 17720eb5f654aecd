"""Merge and Push buttons of a feature, and what the last click answered.

The API's refusals are sentences meant for the person ("commit or stash your
changes first", the conflicting files, what the remote said), so a 409 or 502
is shown as it is, not wrapped in advice. The answer is kept in the session:
the features table is a fragment that refreshes every few seconds, and a
message that vanished with the next refresh would never be read.
"""

from __future__ import annotations

import streamlit as st

from core.client import ApiError
from core.models import Feature, FeatureStatus, Project
from core.repo_models import MergeResult
from pages.lib.api import describe, get_client
from pages.lib.diff_view import short_sha

#: Session key of the last merge/push answer per feature: (ok, sentence).
OUTCOME_KEY = "oma_merge_outcome"
#: Statuses whose sentence is the whole story (refused, conflict, dirty work tree, remote).
REFUSALS = frozenset({409, 502})


def is_url(repository: str | None) -> bool:
    """A git URL (ssh, https, file://, ``user@host:path``) rather than a local path."""
    return bool(repository) and not str(repository).startswith("/")


def can_merge(feature: Feature) -> bool:
    return feature.status is FeatureStatus.PASSING and bool(feature.branch)


def merged_text(feature: Feature, project: Project) -> str:
    base = project.base_branch or "the base branch"
    return f"{feature.name}: merged into {base} · {short_sha(feature.merged_commit)}"


def result_text(result: MergeResult) -> str:
    if result.how == "push":
        text = f"Pushed {result.branch} ({short_sha(result.commit)})."
    else:
        text = f"Merged {result.branch} into {result.base_branch} ({result.how}): " + short_sha(
            result.commit
        )
    if result.push_error:
        text += f" The push failed: {result.push_error}"
    return text


def _outcomes() -> dict[str, tuple[bool, str]]:
    outcomes: dict[str, tuple[bool, str]] = st.session_state.setdefault(OUTCOME_KEY, {})
    return outcomes


def act(feature: Feature, how: str) -> None:
    """A click on Merge or Push: call the API, keep its answer for the panel to show."""
    client = get_client()
    try:
        result = (
            client.merge_feature(feature.id) if how == "merge" else client.push_feature(feature.id)
        )
    except ApiError as error:
        title, advice = describe(error)
        sentence = error.detail if error.status in REFUSALS else f"{title} {advice}"
        _outcomes()[feature.id] = (False, sentence)
        return
    _outcomes()[feature.id] = (not result.push_error, result_text(result))


def show_outcome(feature: Feature) -> None:
    outcome = _outcomes().get(feature.id)
    if outcome is None:
        return
    ok, text = outcome
    if ok:
        st.success(text, icon="✅")
    else:
        st.error(text, icon="⚠️")


def merge_buttons(feature: Feature, project: Project, *, where: str) -> None:
    """Merge (and Push for a URL repository) for a passing, unmerged feature; else its state."""
    if feature.merged_commit:
        st.caption(merged_text(feature, project))
    elif can_merge(feature):
        base = project.base_branch or "its base branch"
        st.button(
            f"Merge {feature.name} into {base}",
            key=f"oma_merge_{where}_{feature.id}",
            type="primary",
            on_click=act,
            args=(feature, "merge"),
            help="Fast-forward when possible, else a merge commit; your uncommitted work is "
            "never touched (the merge is refused instead).",
        )
        if is_url(project.repository):
            st.button(
                f"Push {feature.branch}",
                key=f"oma_push_{where}_{feature.id}",
                on_click=act,
                args=(feature, "push"),
                help="Push the branch to the repository's remote, to open a pull request there.",
            )
    show_outcome(feature)
