"""Projects: every project with its features and running agents at a glance.

A full-page refresh every few seconds (streamlit-autorefresh) keeps the
overview current; the chat sidebar is unaffected (its state is in the session).
"""

from __future__ import annotations

from collections import Counter
from html import escape

import streamlit as st
from streamlit_autorefresh import st_autorefresh

from core.agents import persona
from core.client import ApiError
from core.models import AgentStatus, FeatureStatus
from core.repo_models import MAX_BRANCH_CHARS, MAX_REPOSITORY_CHARS
from pages.lib.api import api_guard, call, get_client, show_error
from pages.lib.shell import ensure_router
from pages.lib.ui import DETAIL_PAGE, feature_badge, select_project, status_dot
from pages.lib.waiting import waiting_line

ensure_router()


def repository_line(repository: str | None, base: str | None) -> str:
    """Where the project's agents work: its repository and base branch (escaped)."""
    if not repository:
        return ""
    where = escape(repository) + (f" · {escape(base)}" if base else "")
    return f"<div class='oma-subtle oma-repo'>📁 {where}</div>"


#: Milliseconds between full refreshes of the overview.
REFRESH_MS = 5_000
COLUMNS = 2

st_autorefresh(interval=REFRESH_MS, key="oma_projects_refresh")
client = get_client()

st.title("Projects")
st.caption("Your projects, their features, and the agents working on them right now.")

projects = call(client.list_projects)

with (
    st.expander("New project", expanded=not projects),
    st.form("oma_new_project", border=False),  # not cleared: a 422 is fixed, not retyped
):
    name = st.text_input("Name", max_chars=200)
    description = st.text_area("Description", max_chars=4_000)
    repository = st.text_input(
        "Repository",
        max_chars=MAX_REPOSITORY_CHARS,
        placeholder="/home/you/code/webshop  or  git@github.com:you/webshop.git",
        help="Optional. The absolute path of a local git work tree, or a git URL (ssh, https, "
        "file://). Each feature works on its own branch in a copy; the agents never write your "
        "repository — a passing feature merges when you click Merge. Empty: each feature gets "
        "a new repository of its own.",
    )
    base_branch = st.text_input(
        "Base branch",
        max_chars=MAX_BRANCH_CHARS,
        placeholder="main",
        help="Optional. The branch features start from and merge into; empty: the "
        "repository's default branch.",
    )
    if st.form_submit_button("Create project", type="primary"):
        try:
            created = client.create_project(
                name,
                description=description,
                repository=repository.strip() or None,
                base_branch=base_branch.strip() or None,
            )
        except ApiError as error:
            # 422: the API's sentence names the problem (git's own words): shown as it is.
            if error.status == 422:
                st.error(error.detail, icon="⚠️")
            else:
                show_error(error)
        else:
            select_project(created.id)
            st.switch_page(DETAIL_PAGE)

if not projects:
    st.info(
        "No projects yet. Create one above — its four agents (Miso, Nori, Koji, Toro) come with it."
    )

columns = st.columns(COLUMNS)
for position, project in enumerate(projects):
    with columns[position % COLUMNS], api_guard():
        features = client.list_features(project.id)
        agents = client.list_agents(project.id)
        counts = Counter(f.status for f in features)
        names = {f.id: f.name for f in features}
        badges = " ".join(
            f"{feature_badge(status)} <span class='oma-muted'>{counts[status]}</span>"
            for status in FeatureStatus
            if counts[status]
        )
        running = [a for a in agents if a.status is AgentStatus.RUNNING]
        lines = (
            "".join(
                f"<div class='oma-card-line'>{persona(a.role).mascot} {status_dot(a.status)} "
                f"<b>{escape(a.name)}</b> on {escape(names.get(a.current_feature_id or '', '…'))}"
                + (f" <span class='oma-unread'>{a.unread_count}</span>" if a.unread_count else "")
                + "</div>"
                for a in running
            )
            or "<div class='oma-card-line'>No agent is running.</div>"
        )
        st.html(
            "<div class='oma-glass oma-card'>"
            f"<div class='oma-card-name'>{escape(project.name)}</div>"
            f"<div class='oma-subtle'>{escape(project.description) or '&nbsp;'}</div>"
            + repository_line(project.repository, project.base_branch)
            + f"<div class='oma-card-line'>{len(features)} features {badges}</div>"
            f"{waiting_line(agents)}{lines}</div>"
        )
        if st.button(f"Open {project.name}", key=f"oma_open_{project.id}", width="stretch"):
            select_project(project.id)
            st.switch_page(DETAIL_PAGE)
