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
ids = [p.id for p in projects]
selected = current_project_id()
project = st.selectbox(
    "Project",
    projects,
    index=ids.index(selected) if selected in ids else 0,
    format_func=lambda p: p.name,
    key="oma_changes_project",
)
if project.id != current_project_id():
    select_project(project.id)
features = call(client.list_features, project.id)
if not features:
    st.info("No features yet: add one on Mission control.")
    st.stop()
wanted = st.query_params.get("feature")
feature_ids = [f.id for f in features]
feature = st.selectbox(
    "Feature",
    features,
    index=feature_ids.index(wanted) if wanted in feature_ids else 0,
    format_func=lambda f: f.name + (f" · {f.branch}" if f.branch else ""),
    key="oma_changes_feature",
)
if feature.id != wanted:
    st.query_params["feature"] = feature.id
    st.query_params.pop("run", None)
if st.query_params.get("chat") == "1" and st.session_state.get(REOPENED_KEY) != feature.id:
    st.session_state[REOPENED_KEY] = feature.id
    if active_feature_id() is None:
        open_chat(feature.id)
        st.rerun()
changes_panel(feature, project)
