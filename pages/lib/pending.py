"""A queued message's bubble, with Withdraw and Edit on it until it is delivered.

One copy of each message: the thread draws a user message whose receipt is
still ``queued`` through ``pending_bubble`` — the bubble and its two buttons —
instead of listing its text a second time elsewhere (the API refuses a
withdrawal once a message was sent or delivered: 409, shown as the chat's
error). Editing is withdraw + send: the new text goes out with
the same delivery mode, and the old one never reaches an agent.
"""

from __future__ import annotations

import streamlit as st

from core.chat_wire import ChatEndedError
from core.models import AgentMessage, AgentRun, DeliveryMode
from pages.lib.chat_session import LiveChat, replayed
from pages.lib.render import message_html

EDIT_KEY = "oma_editing"


def withdraw(chat: LiveChat, message: AgentMessage) -> None:
    if not replayed(f"withdraw {message.run_id} {message.id}"):
        chat.withdraw(message.run_id, message.id)


def start_edit(message_id: str) -> None:
    st.session_state[EDIT_KEY] = message_id


def save_edit(chat: LiveChat, message: AgentMessage, mode: DeliveryMode | None) -> None:
    text = st.session_state.get(f"oma_edit_text_{message.id}")
    st.session_state.pop(EDIT_KEY, None)
    if not isinstance(text, str) or not text.strip() or text.strip() == message.content:
        return
    if replayed(f"edit {message.run_id} {message.id}"):
        return
    if chat.withdraw(message.run_id, message.id):
        try:
            chat.send_message(text, mode=message.mode or mode)
        except (ValueError, ChatEndedError) as error:
            st.session_state["oma_chat_problem"] = str(error)


def cancel_edit() -> None:
    st.session_state.pop(EDIT_KEY, None)


def pending_bubble(
    message: AgentMessage, chat: LiveChat, mode: DeliveryMode | None, run: AgentRun | None
) -> None:
    """A queued message's one copy: its bubble, with Withdraw and Edit under it."""
    st.html(message_html(message, run=run))
    if st.session_state.get(EDIT_KEY) == message.id:
        st.text_area(
            "Edit",
            value=message.content,
            key=f"oma_edit_text_{message.id}",
            label_visibility="collapsed",
        )
        save, cancel = st.columns(2)
        save.button(
            "Save",
            key=f"oma_edit_save_{message.id}",
            on_click=save_edit,
            args=(chat, message, mode),
            type="primary",
            width="stretch",
        )
        cancel.button(
            "Cancel", key=f"oma_edit_cancel_{message.id}", on_click=cancel_edit, width="stretch"
        )
        return
    key = f"oma_pending_{message.id}"
    with st.container(key=key, horizontal=True, horizontal_alignment="right"):
        st.button(
            "Withdraw",
            key=f"oma_withdraw_{message.id}",
            on_click=withdraw,
            args=(chat, message),
            type="tertiary",
        )
        st.button(
            "Edit",
            key=f"oma_edit_{message.id}",
            on_click=start_edit,
            args=(message.id,),
            type="tertiary",
        )
