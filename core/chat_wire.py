"""What the chat clients share with the CLI: limits, retry policy, the ``close`` event, snapshots.

Kept apart from ``core.chat`` so the client module holds the threads and the
state changes only. ``ChatHost`` is what the network tasks (``core.chat_loop``)
need of a client: declared here, where both import it, so ``core.chat`` imports
``core.chat_loop`` and never the other way round (no import cycle).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import httpx

from core.chat_state import Conversation
from core.models import MAX_MESSAGE_CHARS, AgentMessage, AgentRunStatus, FeatureStatus

#: Stream reconnect backoff: first wait (unless the server's ``retry:`` hint says
#: otherwise), growth factor, ceiling, and the random share added against herds.
RECONNECT_INITIAL_S = 0.5
RECONNECT_FACTOR = 2.0
RECONNECT_MAX_S = 15.0
RECONNECT_JITTER = 0.2
#: A stream silent (not even a keep-alive, sent every 15 s) this long is dead.
STREAM_READ_TIMEOUT_S = 45.0
#: POST attempts for one message, and the backoff between them.
SEND_MAX_ATTEMPTS = 5
SEND_RETRY_INITIAL_S = 0.5
SEND_RETRY_MAX_S = 8.0
#: Longest ``Retry-After`` the client honours (longer ones are capped).
MAX_RETRY_AFTER_S = 30.0
CONNECT_TIMEOUT_S = 5.0
REQUEST_TIMEOUT_S = 15.0
#: How long ``close()`` waits for the background thread.
CLOSE_JOIN_TIMEOUT_S = 5.0
#: Stream answers that will not get better by reconnecting.
FATAL_STREAM_STATUSES = frozenset({400, 401, 403, 404, 422})
STREAM_ERROR_PREFIX = "The chat stream was interrupted"


class ChatHost(Protocol):
    """What the stream and send tasks use of their chat client (``core.chat.ChatClient``)."""

    stream_path: str
    post_path: str
    reconnect_max_s: float
    state: Conversation

    def update(self, change: Callable[[Conversation], None]) -> None: ...

    def set(self, **changes: Any) -> None: ...


class ChatEndedError(RuntimeError):
    """The run or feature has ended (or the chat was closed): nothing more can be sent."""


@dataclass(frozen=True, slots=True)
class ChatSnapshot:
    """An immutable view of a chat at one ``version``."""

    version: int
    #: Server messages in stream order, then the optimistic ones not yet stored.
    messages: tuple[AgentMessage, ...]
    #: Client ids of the optimistic messages among ``messages``.
    pending_ids: frozenset[str]
    #: User messages still withdrawable (receipt ``queued``) and the ones being sent.
    waiting: tuple[AgentMessage, ...]
    error: str | None
    is_connected: bool
    ended: bool
    #: The run's (or feature's) status from the ``close`` event.
    end_status: StrEnum | None
    #: True once the stream will not reconnect (ended, closed, or a fatal error).
    stopped: bool

    @classmethod
    def of(
        cls,
        state: Conversation,
        *,
        connected: bool,
        end_status: StrEnum | None = None,
        stopped: bool = False,
    ) -> ChatSnapshot:
        return cls(
            version=state.version,
            messages=tuple(state.all_messages()),
            pending_ids=frozenset(state.optimistic),
            waiting=tuple(state.waiting_for_delivery()),
            error=state.error,
            is_connected=connected,
            ended=state.ended,
            end_status=end_status,
            stopped=stopped,
        )


def retry_after(response: httpx.Response, default: float) -> float:
    try:
        return min(float(response.headers.get("retry-after", default)), MAX_RETRY_AFTER_S)
    except ValueError:
        return default


def retryable(response: httpx.Response) -> bool:
    return response.status_code >= 500 or response.status_code == 429


class SendBackoff:
    """The sender's wait between POST attempts of one message (the CLI's and the chat's).

    Exponential from ``SEND_RETRY_INITIAL_S`` to ``SEND_RETRY_MAX_S``; a refusal's
    ``Retry-After`` lengthens the next wait, never shortens it.
    """

    def __init__(self) -> None:
        self.delay = SEND_RETRY_INITIAL_S

    def honour(self, response: httpx.Response) -> None:
        self.delay = max(self.delay, retry_after(response, self.delay))

    def next_wait(self) -> float:
        wait = self.delay
        self.delay = min(self.delay * RECONNECT_FACTOR, SEND_RETRY_MAX_S)
        return wait


def validate_content(content: str) -> str:
    text = content.strip()
    if not text:
        raise ValueError("Message content must not be empty or only whitespace.")
    if len(text) > MAX_MESSAGE_CHARS:
        raise ValueError(
            f"Message content is {len(text):,} characters; the limit is {MAX_MESSAGE_CHARS:,}."
        )
    return text


def parse_end_status(data: str) -> StrEnum | None:
    """The ``close`` event's ``status``: a run status, a feature status, or None."""
    try:
        value = json.loads(data).get("status") if data else None
    except (ValueError, AttributeError):
        return None
    if not isinstance(value, str):
        return None
    for kind in (AgentRunStatus, FeatureStatus):
        with contextlib.suppress(ValueError):
            return kind(value)
    return None


def unreachable(error: Exception) -> str:
    return f"the service could not be reached ({error.__class__.__name__})"
