"""The agent cards: who works on what, who waits for you, unread counts; a click opens the chat.

A card opens its feature's whole conversation — while the agent works, between
steps and after the end (read-only then). A run in ``waiting`` (the agent asked
a question) is drawn louder than a running one, and a question that arrives
while its conversation is closed raises a toast once.
"""

from __future__ import annotations

import streamlit as st

from core.models import Agent, AgentRun, AgentRunStatus, AgentStatus
from pages.lib.api import api_guard, get_client
from pages.lib.chat_session import active_feature_id
from pages.lib.metrics import spend_text
from pages.lib.ui import agent_card_html
from pages.lib.waiting import TOASTED_KEY
from pages.panels.common import NOTICE_KEY, open_and_rerun

#: Seconds between refreshes of the agent cards.
CARDS_REFRESH_S = 2.0


def idle_reason(agent: Agent) -> str:
    return (
        f"{agent.name} is {agent.status.value}: no run yet, so there is no conversation to open. "
        "A card opens the conversation of the feature its agent works (or last worked) on."
    )


def toast_new_questions(
    agents: list[Agent], runs: dict[str, AgentRun], names: dict[str, str]
) -> None:
    toasted: set[str] = st.session_state.setdefault(TOASTED_KEY, set())
    for agent in agents:
        run = runs.get(agent.current_run_id or "")
        if run is None or run.status is not AgentRunStatus.WAITING or run.id in toasted:
            continue
        toasted.add(run.id)
        if active_feature_id() != run.feature_id:
            feature = names.get(run.feature_id, "a feature")
            st.toast(f"{agent.name} is waiting for you ({feature}): open the card.", icon="❓")


def cost_of(feature_id: str | None, runs: dict[str, AgentRun]) -> str | None:
    """The feature's cost so far (its runs' reported usage), formatted; None if unknown."""
    return spend_text(r for r in runs.values() if r.feature_id == feature_id)


@st.fragment(run_every=CARDS_REFRESH_S)
def agents_panel(project_id: str) -> None:
    client = get_client()
    with api_guard():
        agents = client.list_agents(project_id)
        features = {f.id: f for f in client.list_features(project_id)}
        runs = {r.id: r for r in client.list_runs(project_id)}
    toast_new_questions(agents, runs, {f.id: f.name for f in features.values()})
    columns = st.columns(max(1, len(agents)))
    for column, agent in zip(columns, agents, strict=False):
        running = agent.status is AgentStatus.RUNNING and agent.current_run_id is not None
        run = runs.get(agent.current_run_id or "") if running else None
        last = runs.get(agent.last_run_id or "")
        feature_id = agent.current_feature_id or (last.feature_id if last else None)
        feature = features.get(feature_id or "")
        if feature_id is not None and feature_id == active_feature_id():
            # Its conversation is open: the sidebar shows those messages (and marks them read).
            agent = agent.model_copy(update={"unread_count": 0})
        waiting = run is not None and run.status is AgentRunStatus.WAITING
        with column, st.container(key=f"agentcard_{agent.role.value}"):
            st.html(
                agent_card_html(
                    agent,
                    feature_name=feature.name if feature else None,
                    step=run.step if run else (feature.current_step if feature else None),
                    run_status=run.status.value if run else None,
                    waiting=waiting,
                    cost=cost_of(feature_id, runs),
                )
            )
            if waiting:
                label = f"Answer {agent.name}"
            elif running:
                label = f"Chat with {agent.name}"
            else:
                label = f"{agent.name} is {agent.status.value}"
            if st.button(label, key=f"cardbtn_{agent.role.value}"):
                if feature_id is not None:
                    open_and_rerun(feature_id)
                else:
                    st.session_state[NOTICE_KEY] = idle_reason(agent)
    notice = st.session_state.get(NOTICE_KEY)
    if notice:
        st.info(notice, icon="💤")
