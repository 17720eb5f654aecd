"""Someone is waiting for you: agents that asked a question, told on every page.

Why outside the agent cards: a question only helps if the person sees it, and
they may be on another page or another tab. ``waiting_beacon`` runs on every
page (dashboard.py draws it before the page, like the chat sidebar) as a
fragment that refreshes itself, and:

* puts the count in the browser tab's title, "(1) Omakase" — a tab in the
  background shows it too;
* shows a gold "❓ 1 waiting for you" pill beside the navigation, naming the
  agents and their projects;
* raises a toast once per question, whichever page is open (not when that
  feature's conversation is already open in the sidebar).

The Projects page shows each project's count on its card (``waiting_line``).
The count comes from the agents listing (``Agent.waiting``: its current run
is ``waiting``), read across projects every ``WAITING_REFRESH_S``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from html import escape

import streamlit as st

from core.client import ApiClient, ApiError
from core.models import Agent
from pages.lib.api import get_client
from pages.lib.chat_session import active_feature_id

#: Seconds between re-reads of who is waiting (every page, every session).
WAITING_REFRESH_S = 5.0
#: Session key of the runs whose question already raised a toast (shared with the cards).
TOASTED_KEY = "oma_toasted_questions"
APP_TITLE = "Omakase"


@dataclass(frozen=True, slots=True)
class Waiting:
    """One agent waiting for the person's answer."""

    project_id: str
    project_name: str
    agent_name: str
    run_id: str
    feature_id: str
    feature_name: str


def waiting_agents(client: ApiClient) -> list[Waiting]:
    """Every agent waiting for an answer, across the projects."""
    found: list[Waiting] = []
    for project in client.list_projects():
        agents = [a for a in client.list_agents(project.id) if a.waiting]
        if not agents:
            continue
        names = {f.id: f.name for f in client.list_features(project.id)}
        found.extend(
            Waiting(
                project_id=project.id,
                project_name=project.name,
                agent_name=agent.name,
                run_id=agent.current_run_id or "",
                feature_id=agent.current_feature_id or "",
                feature_name=names.get(agent.current_feature_id or "", "a feature"),
            )
            for agent in agents
        )
    return found


def tab_title(count: int) -> str:
    return f"({count}) {APP_TITLE}" if count else APP_TITLE


def title_script(count: int) -> str:
    """Keep the tab title carrying the count, also when Streamlit sets it again on navigation."""
    title = json.dumps(tab_title(count))
    return (
        "<script>(function(){const doc=window.document;"
        f"window.__omaTitle={title};"
        "function apply(){if(doc.title!==window.__omaTitle)doc.title=window.__omaTitle;}"
        "apply();if(!window.__omaTitleHook){window.__omaTitleHook=true;"
        "const head=doc.querySelector('head');"
        "new MutationObserver(apply).observe(head,{subtree:true,childList:true,"
        "characterData:true});}})();</script>"
    )


def pill_html(waiting: list[Waiting]) -> str:
    if not waiting:
        return ""
    who = ", ".join(f"{w.agent_name} ({w.project_name})" for w in waiting)
    return (
        f'<div class="oma-waiting-pill" title="{escape(who)}">❓ {len(waiting)} waiting for you'
        f'<span class="oma-waiting-who"> · {escape(who)}</span></div>'
    )


def waiting_line(agents: list[Agent]) -> str:
    """A project card's line: how many of its agents wait for an answer (empty when none)."""
    names = [a.name for a in agents if a.waiting]
    if not names:
        return ""
    return (
        f"<div class='oma-card-line oma-waiting-line'>❓ {len(names)} waiting for you: "
        f"{escape(', '.join(names))}</div>"
    )


def toast_new(waiting: list[Waiting]) -> None:
    """A toast once per question, unless its conversation is the one open."""
    toasted: set[str] = st.session_state.setdefault(TOASTED_KEY, set())
    for item in waiting:
        if item.run_id in toasted:
            continue
        toasted.add(item.run_id)
        if active_feature_id() != item.feature_id:
            st.toast(
                f"{item.agent_name} is waiting for you ({item.feature_name}) in "
                f"{item.project_name}: open its card.",
                icon="❓",
            )


@st.fragment(run_every=WAITING_REFRESH_S)
def waiting_beacon() -> None:
    try:
        waiting = waiting_agents(get_client())
    except ApiError:
        return  # the page itself shows the API's trouble; the beacon just stays quiet
    toast_new(waiting)
    st.html(pill_html(waiting) + title_script(len(waiting)), unsafe_allow_javascript=True)
