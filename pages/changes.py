"""Changes: what a feature's agents changed — per step or the whole branch — and its merge.

``/changes?project=<id>&feature=<id>&run=<id>`` opens one step's diff: the
link a conversation's step divider carries (``&chat=1`` opens that
conversation again in the sidebar, since following a link starts a new page).
"""

from __future__ import annotations

import streamlit as st

from pages.lib.api import call, get_client
from pages.lib.chat_session import active_feature_id, open_chat
from pages.lib.shell import ensure_router
from pages.lib.ui import current_project_id, select_project
from pages.panels.changes import changes_panel

ensure_router()

#: Session key: the feature whose conversation a divider link already reopened.
REOPENED_KEY = "oma_changes_reopened"

client = get_client()
st.title("Changes")
projects = call(client.list_projects)
if not projects:
    st.info("No projects yet: create one on the Projects page.")
    st.stop()
# Ids as options, the models looked up afterwards: a selectbox of models hands back the
# object of an earlier run, so a merge made in a callback would not show until the next one.
by_id = {p.id: p for p in projects}
selected = current_project_id()
project_id = st.selectbox(
    "Project",
    list(by_id),
    index=list(by_id).index(selected) if selected in by_id else 0,
    format_func=lambda key: by_id[key].name,
    key="oma_changes_project",
)
project = by_id[project_id or next(iter(by_id))]
if project.id != current_project_id():
    select_project(project.id)
features = call(client.list_features, project.id)
if not features:
    st.info("No features yet: add one on Mission control.")
    st.stop()
wanted = st.query_params.get("feature")
features_by_id = {f.id: f for f in features}
feature_id = st.selectbox(
    "Feature",
    list(features_by_id),
    index=list(features_by_id).index(wanted) if wanted in features_by_id else 0,
    format_func=lambda key: (
        features_by_id[key].name
        + (f" · {features_by_id[key].branch}" if features_by_id[key].branch else "")
    ),
    key="oma_changes_feature",
)
feature = features_by_id[feature_id or next(iter(features_by_id))]
if feature.id != wanted:
    st.query_params["feature"] = feature.id
    st.query_params.pop("run", None)
if st.query_params.get("chat") == "1" and st.session_state.get(REOPENED_KEY) != feature.id:
    st.session_state[REOPENED_KEY] = feature.id
    if active_feature_id() is None:
        open_chat(feature.id)
        st.rerun()
changes_panel(feature, project)
