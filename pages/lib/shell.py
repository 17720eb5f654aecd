"""Make sure a page runs inside the router (``dashboard.py``), even on a first-load deep link.

Streamlit keeps a relic of its first multipage design: while a ``pages/``
folder exists and ``st.navigation`` has not run yet in this server process,
a URL such as ``/project_detail?project=…`` executes ``pages/project_detail.py``
*directly* — without the router, so without the stylesheet, the top
navigation or the chat sidebar. ``st.navigation`` clears that flag, so only
the very first request after a start can hit it. ``ensure_router`` detects
that case and reruns once; the rerun executes ``dashboard.py``, which resolves
the same page (same URL path, same query string).
"""

from __future__ import annotations

import streamlit as st

try:  # internal API, pinned with streamlit in requirements.txt
    from streamlit.runtime.pages_manager import PagesManager
except ImportError:  # pragma: no cover - a future Streamlit without the relic
    PagesManager = None  # type: ignore[assignment,misc]


def ensure_router() -> None:
    """Call first in every page file."""
    if PagesManager is not None and PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
