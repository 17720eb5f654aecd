"""The chat clients' network tasks: follow the SSE stream, POST the queued sends.

They run in the client's own event loop (``core.chat.ChatClient``, typed here as
``core.chat_wire.ChatHost`` so this module never imports it back) and change
its state only through ``chat.update``/``chat.set``, which take the lock.
"""

from __future__ import annotations

import asyncio
import logging
import random
from functools import partial

import httpx
from httpx_sse import EventSource
from pydantic import ValidationError

from core.api_http import detail_of
from core.chat_state import Conversation
from core.chat_wire import (
    CONNECT_TIMEOUT_S,
    FATAL_STREAM_STATUSES,
    RECONNECT_FACTOR,
    RECONNECT_INITIAL_S,
    RECONNECT_JITTER,
    SEND_MAX_ATTEMPTS,
    STREAM_ERROR_PREFIX,
    STREAM_READ_TIMEOUT_S,
    ChatHost,
    SendBackoff,
    parse_end_status,
    retry_after,
    retryable,
    unreachable,
)
from core.models import AgentMessage, DeliveryMode

log = logging.getLogger("core.chat")

Outbox = asyncio.Queue[tuple[str, str, DeliveryMode | None]]


def clear_stream_error(state: Conversation) -> None:
    """A reconnect clears the stream's own complaint (not a refused send's)."""
    if state.error is not None and state.error.startswith(STREAM_ERROR_PREFIX):
        state.error = None


async def stream_forever(chat: ChatHost, http: httpx.AsyncClient) -> None:
    """Follow the stream until ``close``, a fatal answer, or cancellation; resume on errors."""
    delay = RECONNECT_INITIAL_S
    stream_timeout = httpx.Timeout(STREAM_READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
    while True:
        headers = {"Accept": "text/event-stream"}
        if chat.state.last_event_id is not None:
            headers["Last-Event-ID"] = chat.state.last_event_id
        try:
            async with http.stream(
                "GET", chat.stream_path, headers=headers, timeout=stream_timeout
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    detail = detail_of(response)
                    fatal = response.status_code in FATAL_STREAM_STATUSES
                    chat.update(partial(Conversation.fail, detail=detail))
                    chat.set(connected=False, stopped=fatal)
                    if fatal:
                        return
                    await asyncio.sleep(retry_after(response, delay))
                    continue
                chat.update(clear_stream_error)
                chat.set(connected=True)
                delay = RECONNECT_INITIAL_S
                async for sse in EventSource(response).aiter_sse():
                    if sse.retry is not None:
                        delay = sse.retry / 1000
                    if sse.event == "close":
                        status = parse_end_status(sse.data)
                        chat.update(
                            partial(Conversation.end, status=str(status) if status else None)
                        )
                        chat.set(end_status=status, connected=False, stopped=True)
                        return
                    if sse.event != "message" or not sse.data:
                        continue
                    try:
                        message = AgentMessage.model_validate_json(sse.data)
                    except ValidationError:
                        log.warning("skipped a malformed stream event %r", sse.id)
                        continue
                    event_id = sse.id or message.cursor
                    chat.update(partial(Conversation.apply, message=message, event_id=event_id))
        except httpx.HTTPError as error:
            problem = f"{STREAM_ERROR_PREFIX}: {error}"
            chat.update(partial(Conversation.fail, detail=problem))
            chat.set(connected=False)
        else:
            chat.set(connected=False)  # the server ended the stream without close
        wait = delay * (1 + random.uniform(0, RECONNECT_JITTER))  # noqa: S311 - jitter
        await asyncio.sleep(wait)
        delay = min(max(delay, RECONNECT_INITIAL_S) * RECONNECT_FACTOR, chat.reconnect_max_s)


async def send_forever(chat: ChatHost, http: httpx.AsyncClient, outbox: Outbox) -> None:
    """POST the queued sends one at a time, in order."""
    while True:
        client_id, text, mode = await outbox.get()
        await deliver(chat, http, client_id, text, mode)


async def deliver(
    chat: ChatHost, http: httpx.AsyncClient, client_id: str, text: str, mode: DeliveryMode | None
) -> None:
    body: dict[str, str] = {"content": text, "id": client_id}
    if mode is not None:
        body["mode"] = mode.value
    backoff = SendBackoff()
    problem = "no attempt was made"
    for _ in range(SEND_MAX_ATTEMPTS):
        try:
            response = await http.post(chat.post_path, json=body)
        except httpx.TransportError as error:
            problem = unreachable(error)
        else:
            if response.status_code in (200, 201):
                stored = AgentMessage.model_validate(response.json())
                chat.update(partial(Conversation.confirm, message=stored))
                return
            if not retryable(response):
                detail = detail_of(response)
                chat.update(partial(Conversation.roll_back, client_id=client_id, detail=detail))
                return
            problem = detail_of(response)
            backoff.honour(response)
        await asyncio.sleep(backoff.next_wait())
    final = f"The message was not sent after {SEND_MAX_ATTEMPTS} attempts: {problem}."
    chat.update(partial(Conversation.roll_back, client_id=client_id, detail=final))
