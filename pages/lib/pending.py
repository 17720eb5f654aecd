"""The messages waiting for delivery, above the input: withdraw or edit until delivered.

Only user messages whose receipt is still ``queued`` are listed with buttons
(the API refuses a withdrawal once a message was sent or delivered: 409, shown
as the chat's error). Editing is withdraw + send: the new text goes out with
the same delivery mode, and the old one never reaches an agent.
"""

from __future__ import annotations

from collections.abc import Mapping

import streamlit as st

from core.chat_wire import ChatEndedError
from core.models import AgentMessage, AgentRun, DeliveryMode
from pages.lib.chat_session import LiveChat, replayed
from pages.lib.render import pending_html

EDIT_KEY = "oma_editing"
#: The list shows the oldest few; the rest are counted (each still shows in the thread).
PENDING_SHOW = 8


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


def pending_list(
    waiting: tuple[AgentMessage, ...],
    chat: LiveChat,
    mode: DeliveryMode | None,
    runs: Mapping[str, AgentRun],
) -> None:
    """The list itself (nothing when no message waits)."""
    if not waiting:
        return
    editing = st.session_state.get(EDIT_KEY)
    with st.container(key="oma_pending", border=True):
        st.caption(f"Waiting for delivery ({len(waiting)})")
        if len(waiting) > PENDING_SHOW:
            st.caption(f"… and {len(waiting) - PENDING_SHOW} more, shown in the conversation.")
        for message in waiting[:PENDING_SHOW]:
            st.html(pending_html(message, runs.get(message.run_id)))
            if not message.cursor:
                continue  # still being sent: nothing to withdraw yet
            if editing == message.id:
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
                    "Cancel",
                    key=f"oma_edit_cancel_{message.id}",
                    on_click=cancel_edit,
                    width="stretch",
                )
                continue
            left, right = st.columns(2)
            left.button(
                "Withdraw",
                key=f"oma_withdraw_{message.id}",
                on_click=withdraw,
                args=(chat, message),
                width="stretch",
            )
            right.button(
                "Edit",
                key=f"oma_edit_{message.id}",
                on_click=start_edit,
                args=(message.id,),
                width="stretch",
            )
