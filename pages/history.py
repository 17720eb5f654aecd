"""History & export: every conversation of a project, filtered, charted, downloadable.

The data comes from ``core.export.export_messages`` (the API, page by page),
with a progress bar while it loads; it is kept in the session per
project/feature/run until "Reload". Sender and type filters apply locally.
Downloads (CSV, Parquet, JSON) are the filtered rows, built with pandas; with
one feature chosen, also its conversation merged with the pipeline timeline as
Markdown (``core.export.export_feature_markdown``), for a bug report or a PR.
"""

from __future__ import annotations

import time

import altair as alt
import pandas as pd
import streamlit as st

from core.agents import persona
from core.export import (
    FORMATS,
    MEDIA_TYPES,
    ExportProgress,
    export_feature_markdown,
    export_messages,
    to_bytes,
)
from core.models import MessageSender, MessageType
from pages.lib.api import api_guard, call, get_client
from pages.lib.history import filter_frame, messages_over_time, reply_delays
from pages.lib.shell import ensure_router
from pages.lib.ui import current_project_id, select_project

ensure_router()

ALL = "All"
CACHE_KEY = "oma_history"
MARKDOWN_KEY = "oma_history_md"
TABLE_COLUMNS = [
    "timestamp",
    "featureName",
    "agentName",
    "step",
    "sender",
    "type",
    "content",
    "receiptState",
    "receiptStep",
]

#: Each agent in its role badge colour (STYLE.md), the user in gold.
AGENT_COLOURS = alt.Scale(
    domain=["Miso", "Nori", "Koji", "Toro", "You"],
    range=["#818cf8", "#38bdf8", "#f472b6", "#6ee7b7", "#fbbf24"],
)

client = get_client()
st.title("History & export")

projects = call(client.list_projects)
if not projects:
    st.info("No projects yet.")
    st.stop()
ids = [p.id for p in projects]
selected = current_project_id()
left, middle, right = st.columns(3)
project = left.selectbox(
    "Project",
    projects,
    index=ids.index(selected) if selected in ids else 0,
    format_func=lambda p: p.name,
    key="oma_history_project",
)
if project.id != selected:
    select_project(project.id)

with api_guard():
    features = client.list_features(project.id)
    runs = client.list_runs(project.id)
feature = middle.selectbox(
    "Feature", [None, *features], format_func=lambda f: f.name if f else ALL, key="oma_h_feature"
)
scoped_runs = [r for r in runs if feature is None or r.feature_id == feature.id]
run = right.selectbox(
    "Run",
    [None, *scoped_runs],
    format_func=lambda r: (
        f"{persona(r.role).name} · step {r.step} · {r.status.value}" if r else ALL
    ),
    key="oma_h_run",
)
sender_box, type_box, reload_box = st.columns([3, 3, 1], vertical_alignment="bottom")
senders = sender_box.multiselect(
    "Sender", [s.value for s in MessageSender], placeholder="All senders", key="oma_h_sender"
)
types = type_box.multiselect(
    "Type", [t.value for t in MessageType], placeholder="All types", key="oma_h_type"
)

scope = (project.id, feature.id if feature else None, run.id if run else None)
cached = st.session_state.get(CACHE_KEY)
reload = reload_box.button("Reload", key="oma_h_reload", width="stretch")
if reload or not isinstance(cached, tuple) or cached[0] != scope:
    bar = st.progress(0.0, text="Loading history…")

    def on_progress(update: ExportProgress) -> None:
        share = update.runs_done / update.runs_total if update.runs_total else 1.0
        bar.progress(
            min(1.0, share),
            text=f"Run {update.runs_done}/{update.runs_total} · {update.messages:,} messages",
        )

    with api_guard():
        frame = export_messages(
            client, project_id=scope[0], feature_id=scope[1], run_id=scope[2], progress=on_progress
        )
        markdown = export_feature_markdown(client, feature_id=scope[1]) if scope[1] else None
    bar.empty()
    st.session_state[CACHE_KEY] = (scope, frame, time.strftime("%H:%M:%S"))
    st.session_state[MARKDOWN_KEY] = markdown
else:
    frame = cached[1]
loaded_at = st.session_state[CACHE_KEY][2]

shown: pd.DataFrame = filter_frame(frame, senders=senders, types=types)
st.caption(
    f"{len(shown):,} of {len(frame):,} messages · loaded at {loaded_at} (Reload for newer ones)"
)
st.dataframe(shown[TABLE_COLUMNS], hide_index=True, width="stretch", height=360)

stem = f"omakase-{project.name.lower().replace(' ', '-')}-messages"
markdown = st.session_state.get(MARKDOWN_KEY)
buttons = st.columns(4 if markdown else 3)
for column, fmt in zip(buttons, FORMATS, strict=False):
    column.download_button(
        f"Download {fmt.upper()}",
        data=to_bytes(shown, fmt),
        file_name=f"{stem}.{fmt}",
        mime=MEDIA_TYPES[fmt],
        key=f"oma_dl_{fmt}",
        width="stretch",
        on_click="ignore",
    )
if markdown and feature is not None:
    buttons[-1].download_button(
        "Download Markdown",
        data=markdown.encode("utf-8"),
        file_name=f"omakase-{feature.name.lower().replace(' ', '-')}-conversation.md",
        mime="text/markdown",
        key="oma_dl_md",
        width="stretch",
        on_click="ignore",
        help="The feature's conversation with its steps, receipts and questions "
        '("Human guidance incorporated"), for a bug report or a PR body',
    )

if not shown.empty:
    over_time, delays = st.columns(2)
    with over_time:
        st.subheader("Messages over time")
        st.altair_chart(
            alt.Chart(messages_over_time(shown))
            .mark_bar()
            .encode(
                x=alt.X("time:T", title=None),
                y=alt.Y("messages:Q", title="messages"),
                color=alt.Color("who:N", title="agent", scale=AGENT_COLOURS),
                tooltip=["time:T", "who:N", "messages:Q"],
            ),
            width="stretch",
        )
    with delays:
        st.subheader("Time to the agent's reply")
        answered = reply_delays(frame if not senders and not types else shown)
        if answered.empty:
            st.caption("No answered user message yet.")
        else:
            st.altair_chart(
                alt.Chart(answered)
                .mark_circle(size=90)
                .encode(
                    x=alt.X("askedAt:T", title="asked at"),
                    y=alt.Y("seconds:Q", title="seconds to reply"),
                    color=alt.Color("agentName:N", title="agent", scale=AGENT_COLOURS),
                    tooltip=["agentName:N", "question:N", alt.Tooltip("seconds:Q", format=".1f")],
                ),
                width="stretch",
            )
