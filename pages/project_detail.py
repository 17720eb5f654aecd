"""Mission control of one project: agent cards, live logs, features, runs.

The cards and the log viewer are fragments that refresh on their own
(``run_every``), so the page stays live without full reruns. Opening a chat
(a running agent's card, a log name tag, a run) sets ``activeChatRunId`` and
reruns the app once, which draws the sidebar chat.
"""

from __future__ import annotations

from html import escape

import pandas as pd
import streamlit as st

from core.agents import persona
from core.client import ApiError
from core.models import Agent, AgentStatus, FeatureStatus, LogLine, LogStream
from pages.lib.api import api_guard, call, get_client, show_error
from pages.lib.chat import active_run_id, open_chat
from pages.lib.shell import ensure_router
from pages.lib.thread import clock
from pages.lib.ui import agent_card_html, current_project_id, select_project

ensure_router()

#: Seconds between refreshes of the agent cards and of the log viewer.
CARDS_REFRESH_S = 2.0
LOGS_REFRESH_S = 2.0
FEATURES_REFRESH_S = 5.0
#: Log lines kept in the session and shown (the tail).
LOG_KEEP_LINES = 1_000
LOG_SHOW_LINES = 150
LOG_FETCH_LIMIT = 500
NOTICE_KEY = "oma_card_notice"


def idle_reason(agent: Agent) -> str:
    if agent.status is AgentStatus.IDLE:
        return (
            f"{agent.name} is idle: no run is in progress, so there is no conversation to open. "
            "A chat opens for a running agent; the Logs tab's name tags open an agent's "
            "most recent run."
        )
    return (
        f"{agent.name} is {agent.status.value}: there is no live run to chat with. "
        "Open its most recent run from its name tag in the Logs tab, or from the Runs tab."
    )


def open_and_rerun(run_id: str) -> None:
    open_chat(run_id)
    st.session_state.pop(NOTICE_KEY, None)
    st.rerun()


@st.fragment(run_every=CARDS_REFRESH_S)
def agents_panel(project_id: str) -> None:
    client = get_client()
    with api_guard():
        agents = client.list_agents(project_id)
        features = {f.id: f for f in client.list_features(project_id)}
    columns = st.columns(max(1, len(agents)))
    for column, agent in zip(columns, agents, strict=False):
        run = None
        if agent.status is AgentStatus.RUNNING and agent.current_run_id:
            try:
                run = client.get_run(agent.current_run_id)
            except ApiError:
                run = None
        feature = features.get(agent.current_feature_id or "")
        if active_run_id() in (agent.current_run_id, agent.last_run_id):
            # Its chat is open: the thread shows those messages (and marks them read).
            agent = agent.model_copy(update={"unread_count": 0})
        with column, st.container(key=f"agentcard_{agent.role.value}"):
            st.html(
                agent_card_html(
                    agent,
                    feature_name=feature.name if feature else None,
                    step=run.step if run else (feature.current_step if feature else None),
                    run_status=run.status.value if run else None,
                )
            )
            running = agent.status is AgentStatus.RUNNING and agent.current_run_id
            label = (
                f"Chat with {agent.name}" if running else f"{agent.name} is {agent.status.value}"
            )
            if st.button(label, key=f"cardbtn_{agent.role.value}"):
                if running and agent.current_run_id:
                    open_and_rerun(agent.current_run_id)
                else:
                    st.session_state[NOTICE_KEY] = idle_reason(agent)
    notice = st.session_state.get(NOTICE_KEY)
    if notice:
        st.info(notice, icon="💤")


def log_html(lines: list[LogLine]) -> str:
    rows = []
    for line in lines:
        kind = (
            " oma-log-stderr"
            if line.stream is LogStream.STDERR
            else " oma-log-system"
            if line.stream is LogStream.SYSTEM
            else ""
        )
        rows.append(
            f'<div class="oma-log{kind}"><span class="oma-log-time">{escape(clock(line.timestamp))}'
            f"</span>{escape(line.line)}</div>"
        )
    return "".join(rows)


def group_lines(lines: list[LogLine]) -> list[list[LogLine]]:
    """Consecutive lines of the same run, each group shown under one name tag."""
    groups: list[list[LogLine]] = []
    for line in lines:
        if groups and groups[-1][-1].run_id == line.run_id:
            groups[-1].append(line)
        else:
            groups.append([line])
    return groups


@st.fragment(run_every=LOGS_REFRESH_S)
def logs_panel(project_id: str) -> None:
    client = get_client()
    key = f"oma_logs_{project_id}"
    kept: list[LogLine] = st.session_state.setdefault(key, [])
    since = kept[-1].timestamp if kept else None
    with api_guard():
        fresh = client.project_logs(project_id, since=since, limit=LOG_FETCH_LIMIT)
    seen = {(line.run_id, line.cursor) for line in kept[-LOG_FETCH_LIMIT:]}
    kept.extend(line for line in fresh if (line.run_id, line.cursor) not in seen)
    del kept[:-LOG_KEEP_LINES]
    if not kept:
        st.caption("No log lines yet: they appear here as soon as an agent starts a step.")
        return
    st.caption(f"The last {min(len(kept), LOG_SHOW_LINES)} lines, live. Click a name to chat.")
    with st.container(height=520, key="oma_logs", autoscroll=True):
        for index, group in enumerate(group_lines(kept[-LOG_SHOW_LINES:])):
            tag, body = st.columns([1, 6], vertical_alignment="top")
            first = group[0]
            with tag:
                clicked = st.button(
                    f"{persona(first.role).mascot} {first.agent_name}",
                    key=f"logtag_{first.role.value}_{index}",
                    help=f"Chat with {first.agent_name} (most recent run)",
                )
            with body:
                st.html(log_html(group))
            if clicked:
                open_and_rerun(latest_run_for(project_id, first))


def latest_run_for(project_id: str, line: LogLine) -> str:
    """The agent's most recent run (``lastRunId``), else the run of the clicked line."""
    try:
        for agent in get_client().list_agents(project_id):
            if agent.role is line.role:
                return agent.current_run_id or agent.last_run_id or line.run_id
    except ApiError:
        pass
    return line.run_id


@st.fragment(run_every=FEATURES_REFRESH_S)
def features_panel(project_id: str) -> None:
    client = get_client()
    with api_guard():
        features = client.list_features(project_id)
    if features:
        names = {f.id: f.name for f in features}
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "feature": f.name,
                        "status": f.status.value.replace("_", " "),
                        "step": f.current_step,
                        "priority": f.priority,
                        "depends on": ", ".join(names.get(d, d) for d in f.dependencies),
                        "error": f.error_message or "",
                        "updated": f.updated_at,
                    }
                    for f in features
                ]
            ),
            hide_index=True,
            width="stretch",
        )
        pending = [f for f in features if f.status is FeatureStatus.PENDING]
        if pending:
            choice = st.selectbox(
                "Pending feature",
                pending,
                format_func=lambda f: f.name,
                key="oma_start_choice",
            )
            if st.button("Start now", key="oma_start_feature") and choice is not None:
                try:
                    client.start_feature(choice.id)
                    st.toast(f"Started {choice.name}")
                except ApiError as error:
                    show_error(error)
    else:
        st.caption("No features yet.")


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


def runs_panel(project_id: str) -> None:
    client = get_client()
    with api_guard():
        runs = client.list_runs(project_id)
        features = {f.id: f.name for f in client.list_features(project_id)}
    if not runs:
        st.caption("No runs yet.")
        return
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "agent": f"{persona(r.role).mascot} {persona(r.role).name}",
                    "role": r.role.value,
                    "feature": features.get(r.feature_id, r.feature_id),
                    "step": r.step,
                    "attempt": r.attempt,
                    "status": r.status.value,
                    "started": r.started_at,
                    "ended": r.completed_at or "",
                    "error": r.error_message or "",
                }
                for r in runs
            ]
        ),
        hide_index=True,
        width="stretch",
    )
    choice = st.selectbox(
        "Run",
        runs,
        format_func=lambda r: (
            f"{persona(r.role).name} · {features.get(r.feature_id, r.feature_id)} · "
            f"step {r.step} · {r.status.value}"
        ),
        key="oma_run_choice",
    )
    if choice is None:
        return
    left, right = st.columns(2)
    if left.button("Open chat", key="oma_run_open", width="stretch"):
        open_and_rerun(choice.id)
    if right.button(
        "Cancel run", key="oma_run_cancel", disabled=not choice.is_active, width="stretch"
    ):
        try:
            client.cancel_run(choice.id)
            st.toast("Run cancelled.")
            st.rerun()
        except ApiError as error:
            show_error(error)


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
if active_run_id():
    st.caption("The chat is open in the sidebar (Esc closes it).")

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
