"""The features tab: status, step, working time, cost and unread per feature; a click opens it."""

from __future__ import annotations

from html import escape

import pandas as pd
import streamlit as st

from core.client import ApiClient, ApiError
from core.models import AgentRun, Feature, FeatureStatus, Project
from pages.lib.api import api_guard, get_client, show_error
from pages.lib.chat_session import active_feature_id
from pages.lib.diff_view import CHANGES_PAGE_URL, short_sha
from pages.lib.metrics import (
    feature_elapsed,
    format_duration,
    spend_text,
    unread_by_feature,
)
from pages.panels.common import open_and_rerun
from pages.panels.merge import can_merge, merge_buttons

FEATURES_REFRESH_S = 5.0
#: Features whose file count is remembered (per head commit: a new step re-reads it).
FILES_CACHE_ENTRIES = 2_000


def runs_by_feature(runs: list[AgentRun]) -> dict[str, list[AgentRun]]:
    grouped: dict[str, list[AgentRun]] = {}
    for run in runs:
        grouped.setdefault(run.feature_id, []).append(run)
    return grouped


def open_label(feature: Feature, unread: int) -> str:
    return f"💬 {feature.name}" + (f" · {unread} unread" if unread else "")


@st.fragment(run_every=FEATURES_REFRESH_S)
def features_panel(project_id: str) -> None:
    client = get_client()
    with api_guard():
        project = client.get_project(project_id)
        features = client.list_features(project_id)
        runs = client.list_runs(project_id)
        agents = client.list_agents(project_id)
    if not features:
        st.caption("No features yet.")
        return
    grouped = runs_by_feature(runs)
    unread = unread_by_feature(agents, {r.id: r for r in runs})
    unread.pop(active_feature_id() or "", None)  # its conversation is open: read
    names = {f.id: f.name for f in features}
    rows = []
    for f in features:
        spent = spend_text(grouped.get(f.id, []))
        rows.append(
            {
                "feature": f.name,
                "status": f.status.value.replace("_", " "),
                "step": f.current_step,
                "working": format_duration(feature_elapsed(grouped.get(f.id, []))),
                "cost": spent or "",
                "unread": unread.get(f.id, 0),
                "priority": f.priority,
                "depends on": ", ".join(names.get(d, d) for d in f.dependencies),
                "error": f.error_message or "",
                **repository_columns(f),
                "over limit": "started past maxConcurrency" if f.started_over_limit else "",
            }
        )
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.caption("Open a feature's conversation (all its steps, from the architect to the tester):")
    with st.container(horizontal=True, key="oma_feature_buttons"):
        for f in features:
            if st.button(open_label(f, unread.get(f.id, 0)), key=f"featbtn_{f.id}"):
                open_and_rerun(f.id)
    start_pending(features, project.max_concurrency)
    merge_row(project, features)


def repository_columns(feature: Feature) -> dict[str, object]:
    """Issue #17's columns: the branch, how many files it changed, the merged commit."""
    return {
        "branch": feature.branch or "",
        "files": files_changed(get_client(), feature.id, feature.head_commit),
        "merged": short_sha(feature.merged_commit),
    }


@st.cache_data(show_spinner=False, max_entries=FILES_CACHE_ENTRIES)
def files_changed(_client: ApiClient, feature_id: str, head: str | None) -> int | None:
    """Files the branch changes; cached per head commit (the table refreshes every 5 s)."""
    if head is None:
        return None
    try:
        return len(_client.feature_changes(feature_id).files)
    except ApiError:
        return None


def merge_row(project: Project, features: list[Feature]) -> None:
    """Links to each branch's Changes; Merge (Push) for each passing feature, merged commits."""
    branched = [f for f in features if f.branch]
    if branched:
        st.html(changes_links(project.id, branched))
    shown = [f for f in features if can_merge(f) or f.merged_commit]
    if not shown:
        return
    st.caption("Passing features merge into the base branch of the project's repository:")
    for feature in shown:
        with st.container(horizontal=True, key=f"oma_merge_row_{feature.id}"):
            merge_buttons(feature, project, where="table")


def changes_links(project_id: str, features: list[Feature]) -> str:
    """ "🔀 Menu page · Order API": each feature's branch on the Changes page."""
    links = " · ".join(
        f'<a class="oma-changes-link" href="{CHANGES_PAGE_URL}?project={escape(project_id)}'
        f'&amp;feature={escape(f.id)}">{escape(f.name)}</a>'
        for f in features
    )
    return f'<div class="oma-card-line">🔀 What the agents changed: {links}</div>'


def start_pending(features: list[Feature], limit: int) -> None:
    """ "Start now" within the project's ``maxConcurrency``; past it only when asked to.

    When the project is full the button says the feature will wait its turn (the
    API answers 409 and leaves it pending); "Start past the limit" overrides.
    """
    pending = [f for f in features if f.status is FeatureStatus.PENDING]
    if not pending:
        return
    running = sum(f.status is FeatureStatus.IN_PROGRESS for f in features)
    full = running >= limit
    choice = st.selectbox(
        "Pending feature", pending, format_func=lambda f: f.name, key="oma_start_choice"
    )
    if full:
        st.caption(
            f"{running} of {limit} features run at once (maxConcurrency): a feature started "
            "now waits its turn, unless you start it past the limit."
        )
    label = "Start now (waits its turn: project full)" if full else "Start now"
    start, override = st.columns(2)
    if start.button(label, key="oma_start_feature") and choice is not None:
        start_now(choice, override=False)
    if (
        full
        and override.button(
            "Start past the limit",
            key="oma_start_override",
            help="Runs it now, one more than maxConcurrency (recorded on the feature).",
        )
        and choice is not None
    ):
        start_now(choice, override=True)


def start_now(feature: Feature, *, override: bool) -> None:
    try:
        get_client().start_feature(feature.id, override=override)
    except ApiError as error:
        if error.status == 409:
            st.warning(error.detail, icon="⏳")
        else:
            show_error(error)
        return
    st.toast(f"Started {feature.name}" + (" past the limit" if override else ""))


def new_feature_form(project_id: str) -> None:
    with st.expander("New feature"), st.form("oma_new_feature", clear_on_submit=True, border=False):
        name = st.text_input("Name", max_chars=200)
        description = st.text_area("Description", max_chars=4_000)
        priority = st.number_input("Priority (lower runs first)", 0, 10_000, 100)
        if st.form_submit_button("Create feature", type="primary"):
            with api_guard(stop=False):
                get_client().create_feature(
                    project_id, name, description=description, priority=int(priority)
                )
                st.toast(f"Created {name}: the feature watcher starts it when its turn comes.")
