"""The SSE wire format of the chat stream, apart from the stream's lifecycle.

Why a module of its own: the exact bytes are the contract with clients (the
chat client, browsers' EventSource, curl), so they are built and tested in one
place; the hub and the route only decide *when* to send them.

Every message event is encoded once per run feed and the same bytes are sent to
every subscriber, so fan-out costs a socket write per viewer, not a JSON dump.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re

from sse_starlette import ServerSentEvent

from core.cursor import CURSOR_DIGITS, is_cursor, parse_cursor
from core.models import AgentMessage, AgentRunStatus, FeatureStatus

#: The event name that ends a stream (the run ended and every message was sent).
CLOSE_EVENT = "close"
#: Milliseconds a client should wait before reconnecting (the SSE ``retry:`` field).
RECONNECT_HINT_MS = 1_000
#: Text of the keep-alive comment lines.
KEEP_ALIVE_COMMENT = "keep-alive"


def message_event(message: AgentMessage) -> bytes:
    """``id: <cursor>`` + ``data: <AgentMessage JSON, camelCase>``."""
    return ServerSentEvent(data=message.model_dump_json(by_alias=True), id=message.cursor).encode()


def message_data(message: AgentMessage) -> bytes:
    """The ``data:`` part alone: a feature feed encodes it once and each viewer adds its id."""
    return ServerSentEvent(data=message.model_dump_json(by_alias=True)).encode()


def with_id(event_id: str, data: bytes) -> bytes:
    """``id: <event_id>`` before an encoded ``data:`` part (field order is free in SSE)."""
    return b"id: " + event_id.encode() + b"\r\n" + data


def close_event(status: AgentRunStatus | FeatureStatus) -> bytes:
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


# --- the feature stream's event ids --------------------------------------------------

#: Prefix of a feature stream id (a run stream id is 12 digits: never confused).
FEATURE_ID_PREFIX = "f"
#: Runs a resume id may name (a feature has a handful; this bounds parsing).
MAX_RESUME_RUNS = 200
_RUN_ID_RE = re.compile(r"run_([0-9a-f]{32})")
_RAW_TAG = "*"
#: Run tags kept encoded (an id is built per event per viewer).
RUN_TAG_CACHE = 4_096
_PAIR_RE = re.compile(
    rf"([A-Za-z0-9_-]{{22}}|\*[A-Za-z0-9_-]{{1,64}}):([0-9]{{1,{CURSOR_DIGITS}}})"
)


@functools.lru_cache(maxsize=RUN_TAG_CACHE)
def _run_tag(run_id: str) -> str:
    """A run id in 22 characters (its 128 random bits, base64url), or ``*<id>`` verbatim."""
    match = _RUN_ID_RE.fullmatch(run_id)
    if match is None:
        return _RAW_TAG + run_id
    return base64.urlsafe_b64encode(bytes.fromhex(match.group(1))).decode().rstrip("=")


def _tag_run(tag: str) -> str:
    if tag.startswith(_RAW_TAG):
        return tag[1:]
    return "run_" + base64.urlsafe_b64decode(tag + "==").hex()


def feature_event_id(sent: dict[str, int]) -> str:
    """The id of a feature stream event: every run's last sent sequence, by run identity.

    ``f.<run tag>:<seq>.<run tag>:<seq>…`` (runs with nothing sent are left out).
    Why identity and not a position or a time: a message may land in an old run's
    thread at any time and a run may show up late in the feature's index, so only
    "run R was sent up to n" for every R resumes exactly once, on any process.
    """
    pairs = [f"{_run_tag(run_id)}:{sequence}" for run_id, sequence in sent.items() if sequence]
    return ".".join([FEATURE_ID_PREFIX, *pairs])


def parse_feature_event_id(value: str) -> dict[str, int]:
    """``feature_event_id``'s inverse; raises ``InvalidResumeIdError`` with a sentence."""
    parts = value.split(".")
    invalid = InvalidResumeIdError(
        f"'{value[:40]}' is not a feature stream event id: send the id of the last "
        "event received (it starts with 'f')."
    )
    if parts[0] != FEATURE_ID_PREFIX or len(parts) > MAX_RESUME_RUNS + 1:
        raise invalid
    sent: dict[str, int] = {}
    for part in parts[1:]:
        match = _PAIR_RE.fullmatch(part)
        if match is None:
            raise invalid
        try:
            run_id = _tag_run(match.group(1))
        except (binascii.Error, ValueError):
            raise invalid from None
        sent[run_id] = max(sent.get(run_id, 0), int(match.group(2)))
    return sent


def feature_resume_after(*, header: str | None, query: str | None) -> dict[str, int]:
    """Where a feature stream resumes: Last-Event-ID header, else ``?lastEventId=``."""
    for value in (header, query):
        if value is not None and value.strip():
            return parse_feature_event_id(value.strip())
    return {}
