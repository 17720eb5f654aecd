"""What the panels share: opening a feature's conversation from anywhere."""

from __future__ import annotations

import streamlit as st

from pages.lib.chat_session import open_chat

#: Session key of the "why nothing opened" notice under the agent cards.
NOTICE_KEY = "oma_card_notice"


def open_and_rerun(feature_id: str) -> None:
    """Open the feature's conversation in the sidebar (a full rerun draws it)."""
    open_chat(feature_id)
    st.session_state.pop(NOTICE_KEY, None)
    st.rerun()
