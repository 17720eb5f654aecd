"""The SSE wire format: exact bytes of message, close, retry and keep-alive events."""

from __future__ import annotations

import pytest

from api.streaming.wire import (
    InvalidResumeIdError,
    close_event,
    keep_alive,
    message_event,
    resume_after,
    retry_hint,
)
from core.models import AgentMessage, AgentRunStatus, MessageSender


def message(content: str = "hi\nthere") -> AgentMessage:
    return AgentMessage(
        id="msg_1",
        run_id="run_1",
        feature_id="feat_1",
        project_id="prj_1",
        sender=MessageSender.USER,
        content=content,
        timestamp="2026-11-24T12:00:00.000000Z",
        cursor="000000000007",
    )


def test_message_event_has_the_cursor_id_and_camel_case_json_on_one_line() -> None:
    encoded = message_event(message()).decode()
    lines = encoded.split("\r\n")
    assert lines[0] == "id: 000000000007"
    assert lines[1].startswith('data: {"id":"msg_1","runId":"run_1","featureId":"feat_1"')
    assert '"content":"hi\\nthere"' in lines[1]  # the newline stays escaped in JSON
    assert lines[2:] == ["", ""]


def test_close_event_has_no_id() -> None:
    assert close_event(AgentRunStatus.FAILED) == (
        b'event: close\r\ndata: {"status": "failed"}\r\n\r\n'
    )


def test_retry_hint_and_keep_alive() -> None:
    assert retry_hint(1500) == b"retry: 1500\r\n\r\n"
    assert keep_alive().encode() == b": keep-alive\r\n\r\n"


@pytest.mark.parametrize(
    ("header", "query", "after"),
    [
        (None, None, 0),
        ("", None, 0),
        ("000000000042", None, 42),
        (None, "000000000007", 7),
        ("000000000042", "000000000007", 42),  # the header wins (EventSource sends it)
    ],
)
def test_resume_after(header: str | None, query: str | None, after: int) -> None:
    assert resume_after(header=header, query=query) == after


def test_resume_after_refuses_non_cursors() -> None:
    with pytest.raises(InvalidResumeIdError) as raised:
        resume_after(header=None, query="2026-11-24T12:00:00Z")
    assert str(raised.value) == (
        "The lastEventId parameter '2026-11-24T12:00:00Z' is not a message cursor: send the "
        "id of the last event received (12 digits)."
    )
