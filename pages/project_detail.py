"""Mission control of one project: agent cards, live logs, features, runs (one panel module each).

The cards, the logs and the features are fragments that refresh on their own
(``run_every``), so the page stays live without full reruns. Opening a
conversation (an agent card, a log name tag, a feature, a run) sets
``activeChatFeatureId`` and reruns the app once, which draws the sidebar chat.
"""

from __future__ import annotations

import streamlit as st

from pages.lib.api import call, get_client
from pages.lib.chat_session import active_feature_id
from pages.lib.shell import ensure_router
from pages.lib.ui import current_project_id, select_project
from pages.panels.agents import agents_panel
from pages.panels.features import features_panel, new_feature_form
from pages.panels.logs import logs_panel
from pages.panels.runs import runs_panel

ensure_router()

client = get_client()
projects = call(client.list_projects)
if not projects:
    st.title("Mission control")
    st.info("No projects yet: create one on the Projects page.")
    st.stop()

ids = [p.id for p in projects]
selected = current_project_id()
if selected not in ids:
    selected = ids[0]
project = st.selectbox(
    "Project",
    projects,
    index=ids.index(selected),
    format_func=lambda p: p.name,
    key="oma_project_select",
    label_visibility="collapsed",
)
if project.id != current_project_id():
    select_project(project.id)

st.title(project.name)
if project.description:
    st.caption(project.description)
if active_feature_id():
    st.caption("The conversation is open in the sidebar (Esc closes it).")

agents_tab, logs_tab, features_tab, runs_tab = st.tabs(["Agents", "Logs", "Features", "Runs"])
with agents_tab:
    agents_panel(project.id)
with logs_tab:
    logs_panel(project.id)
with features_tab:
    new_feature_form(project.id)
    features_panel(project.id)
with runs_tab:
    runs_panel(project.id)
