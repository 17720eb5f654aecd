"""The live log viewer: agents' lines under name tags; a tag opens that feature's conversation."""

from __future__ import annotations

from html import escape

import streamlit as st

from core.agents import persona
from core.models import LogLine, LogStream
from pages.lib.api import api_guard, get_client
from pages.lib.render import clock
from pages.panels.common import open_and_rerun

LOGS_REFRESH_S = 2.0
#: Log lines kept in the session and shown (the tail).
LOG_KEEP_LINES = 1_000
LOG_SHOW_LINES = 150
LOG_FETCH_LIMIT = 500
LOG_HEIGHT_PX = 520


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
    st.caption(
        f"The last {min(len(kept), LOG_SHOW_LINES)} lines, live. "
        "Click a name to open that feature's conversation."
    )
    with st.container(height=LOG_HEIGHT_PX, key="oma_logs", autoscroll=True):
        for index, group in enumerate(group_lines(kept[-LOG_SHOW_LINES:])):
            tag, body = st.columns([1, 6], vertical_alignment="top")
            first = group[0]
            with tag:
                clicked = st.button(
                    f"{persona(first.role).mascot} {first.agent_name}",
                    key=f"logtag_{first.role.value}_{index}",
                    help=f"Open the conversation of the feature {first.agent_name} worked on",
                )
            with body:
                st.html(log_html(group))
            if clicked:
                open_and_rerun(first.feature_id)
