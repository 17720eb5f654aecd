"""The features tab: status, step, working time, cost and unread per feature; a click opens it."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.client import ApiError
from core.models import AgentRun, Feature, FeatureStatus
from pages.lib.api import api_guard, get_client, show_error
from pages.lib.chat_session import active_feature_id
from pages.lib.metrics import (
    feature_elapsed,
    format_duration,
    spend_text,
    unread_by_feature,
)
from pages.panels.common import open_and_rerun

FEATURES_REFRESH_S = 5.0


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
            }
        )
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.caption("Open a feature's conversation (all its steps, from the architect to the tester):")
    with st.container(horizontal=True, key="oma_feature_buttons"):
        for f in features:
            if st.button(open_label(f, unread.get(f.id, 0)), key=f"featbtn_{f.id}"):
                open_and_rerun(f.id)
    start_pending(features)


def start_pending(features: list[Feature]) -> None:
    pending = [f for f in features if f.status is FeatureStatus.PENDING]
    if not pending:
        return
    choice = st.selectbox(
        "Pending feature", pending, format_func=lambda f: f.name, key="oma_start_choice"
    )
    if st.button("Start now", key="oma_start_feature") and choice is not None:
        try:
            get_client().start_feature(choice.id)
            st.toast(f"Started {choice.name}")
        except ApiError as error:
            show_error(error)


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
