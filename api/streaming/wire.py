"""The SSE wire format of the chat stream, apart from the stream's lifecycle.

Why a module of its own: the exact bytes are the contract with clients (the
chat client, browsers' EventSource, curl), so they are built and tested in one
place; the hub and the route only decide *when* to send them.

Every message event is encoded once per run feed and the same bytes are sent to
every subscriber, so fan-out costs a socket write per viewer, not a JSON dump.
"""

from __future__ import annotations

import json

from sse_starlette import ServerSentEvent

from core.cursor import is_cursor, parse_cursor
from core.models import AgentMessage, AgentRunStatus

#: The event name that ends a stream (the run ended and every message was sent).
CLOSE_EVENT = "close"
#: Milliseconds a client should wait before reconnecting (the SSE ``retry:`` field).
RECONNECT_HINT_MS = 1_000
#: Text of the keep-alive comment lines.
KEEP_ALIVE_COMMENT = "keep-alive"


def message_event(message: AgentMessage) -> bytes:
    """``id: <cursor>`` + ``data: <AgentMessage JSON, camelCase>``."""
    return ServerSentEvent(data=message.model_dump_json(by_alias=True), id=message.cursor).encode()


def close_event(status: AgentRunStatus) -> bytes:
    """``event: close`` with the run's terminal status, and deliberately no id.

    Without an id the client's Last-Event-ID stays at the last message, so a
    reconnect after close still resumes correctly (and is closed again at once).
    """
    return ServerSentEvent(data=json.dumps({"status": status.value}), event=CLOSE_EVENT).encode()


def retry_hint(milliseconds: int = RECONNECT_HINT_MS) -> bytes:
    """A field-only event carrying the reconnect delay (dispatches nothing)."""
    return ServerSentEvent(retry=milliseconds).encode()


def keep_alive() -> ServerSentEvent:
    """The ping sse-starlette sends every ``stream_ping_seconds``: a comment line."""
    return ServerSentEvent(comment=KEEP_ALIVE_COMMENT)


class InvalidResumeIdError(ValueError):
    pass


def resume_after(*, header: str | None, query: str | None) -> int:
    """The sequence number to resume after: Last-Event-ID header, else ``?lastEventId=``.

    Returns 0 (from the start) when neither is given. An empty header counts as
    absent (EventSource sends none on the first connect). Raises
    ``InvalidResumeIdError`` with a sentence for anything that is not a cursor.
    """
    for source, value in (("Last-Event-ID header", header), ("lastEventId parameter", query)):
        if value is None or not value.strip():
            continue
        value = value.strip()
        if not is_cursor(value):
            raise InvalidResumeIdError(
                f"The {source} '{value[:40]}' is not a message cursor: send the id of the "
                "last event received (12 digits)."
            )
        return parse_cursor(value)
    return 0
