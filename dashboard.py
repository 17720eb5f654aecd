"""Omakase agent chat — the Streamlit dashboard (``streamlit run dashboard.py``).

The router: navigation at the top (the sidebar belongs to the chat), the
liquid-glass stylesheet, and the chat sidebar, rendered before every page so
an open chat (``activeChatRunId``) survives page and tab switches, and the
waiting beacon (``pages/lib/waiting.py``), so a question reaches the person
on whichever page they are. The pages
live in ``pages/`` and talk to the API only (``OMAKASE_API_URL``,
``OMAKASE_API_TOKEN``), never to DynamoDB. Page URLs are the file stems
(``/project_detail?project=<id>``): a deep link then resolves even on a
server's very first request, before ``st.navigation`` has run once.

``guard_dashboard`` runs before anything else is drawn: bound beyond
127.0.0.1 the dashboard asks for ``OMAKASE_DASHBOARD_PASSWORD`` first (and
refuses to serve without one), see ``pages/lib/gate.py``.
"""

from __future__ import annotations

import streamlit as st

from pages.lib.chat import render_chat_sidebar
from pages.lib.gate import guard_dashboard
from pages.lib.ui import load_style
from pages.lib.waiting import waiting_beacon

st.set_page_config(
    page_title="Omakase",
    page_icon="🍣",
    layout="wide",
    initial_sidebar_state="expanded",
)
load_style()
guard_dashboard()

navigation = st.navigation(
    [
        st.Page(
            "pages/projects.py", title="Projects", icon="🏮", url_path="projects", default=True
        ),
        st.Page("pages/project_detail.py", title="Mission control", icon="🍱"),
        st.Page("pages/changes.py", title="Changes", icon="🔀"),
        st.Page("pages/history.py", title="History & export", icon="📜"),
    ],
    position="top",
)
render_chat_sidebar()
waiting_beacon()  # who waits for an answer: the tab title, a pill by the navigation, a toast
navigation.run()
