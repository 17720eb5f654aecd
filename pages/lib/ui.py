"""Shared rendering: the stylesheet, badges, status dots, agent cards (HTML, escaped)."""

from __future__ import annotations

from html import escape
from pathlib import Path

import streamlit as st

from core.agents import persona
from core.models import Agent, AgentStatus, FeatureStatus
from pages.lib.render import role_badge

STYLESHEET = Path(__file__).resolve().parents[2] / "static" / "oma.css"

STATUS_TOKENS: dict[AgentStatus, str] = {
    AgentStatus.IDLE: "oma-text-faint",
    AgentStatus.RUNNING: "oma-done",
    AgentStatus.STOPPED: "oma-pending",
    AgentStatus.FAILED: "oma-fail",
}
FEATURE_TOKENS: dict[FeatureStatus, str] = {
    FeatureStatus.PENDING: "oma-pending",
    FeatureStatus.IN_PROGRESS: "oma-progress",
    FeatureStatus.PASSING: "oma-done",
    FeatureStatus.FAILING: "oma-fail",
}


def load_style() -> None:
    """Inject the one stylesheet (``static/oma.css``)."""
    st.html(STYLESHEET)


def status_dot(status: AgentStatus) -> str:
    token = STATUS_TOKENS[status]
    return (
        f'<span class="oma-dot" style="--tone: var(--{token})" '
        f'title="{escape(status.value)}"></span>'
    )


def feature_badge(status: FeatureStatus) -> str:
    token = FEATURE_TOKENS[status]
    label = status.value.replace("_", " ")
    return f'<span class="oma-badge" style="--tone: var(--{token})">{escape(label)}</span>'


def agent_card_html(
    agent: Agent,
    *,
    feature_name: str | None,
    step: int | None,
    run_status: str | None,
    waiting: bool = False,
    cost: str | None = None,
) -> str:
    """A card; a waiting agent (it asked you a question) gets its own colour and badge."""
    who = persona(agent.role)
    unread = (
        f'<span class="oma-unread oma-card-unread" title="unread messages">{agent.unread_count}'
        "</span>"
        if agent.unread_count
        else ""
    )
    dot = status_dot(agent.status)
    kind = ""
    if waiting:
        kind = " oma-card-waiting"
        dot = '<span class="oma-badge oma-badge-waiting">waiting for you</span>'
        doing = f"{escape(agent.name)} is waiting for you"
        if feature_name is not None:
            doing += f" · {escape(feature_name)} · step {step or '?'}"
        hint = "Click to answer"
    elif agent.status is AgentStatus.RUNNING and feature_name is not None:
        doing = f"{escape(feature_name)} · step {step or '?'}"
        if run_status:
            doing += f" · {escape(run_status)}"
        hint = "Click to open the conversation"
    else:
        doing = escape(agent.status.value.capitalize())
        if feature_name is not None:
            doing += f" · last: {escape(feature_name)}"
            hint = "Click to open its last conversation"
        else:
            hint = "Idle: nothing to chat with" if agent.status is AgentStatus.IDLE else ""
    if cost is not None and feature_name is not None:
        doing += f' · <span class="oma-card-cost">{escape(cost)} so far</span>'
    return (
        f'<div class="oma-glass oma-card{kind}" data-role="{agent.role.value}">'
        f'<div class="oma-card-head"><span class="oma-mascot">{who.mascot}</span>'
        f'<span class="oma-card-name">{escape(agent.name)}</span>{dot}'
        f"{unread}</div>"
        f"<div>{role_badge(agent.role)}</div>"
        f'<div class="oma-card-line">{doing}</div>'
        f'<div class="oma-card-hint">{hint}</div></div>'
    )


#: Session-state key of the project the detail and history pages show.
PROJECT_KEY = "projectId"
DETAIL_PAGE = "pages/project_detail.py"


def current_project_id() -> str | None:
    """The selected project: the URL's ``?project=`` first, then the session."""
    from_url = st.query_params.get("project")
    if from_url:
        st.session_state[PROJECT_KEY] = from_url
    value = st.session_state.get(PROJECT_KEY)
    return str(value) if value else None


def select_project(project_id: str) -> None:
    st.session_state[PROJECT_KEY] = project_id
    st.query_params["project"] = project_id
