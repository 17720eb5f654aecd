"""An asyncio SSE reader that resumes like a browser's EventSource, and remembers everything.

Used by the reliability tests and by the long scripts in ``bench/`` (thousands of
streams from one process): raw lines from ``httpx``'s async stream, no helper
library, so every id, event and comment is seen. A ``Follower`` keeps the last
event id and reconnects with ``Last-Event-ID``; every message it ever received
is kept in order, so "exactly once, in order" is a plain list comparison.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support.sse import Block, read_line

#: A stream that says nothing (not even a keep-alive) for this long is treated as dead.
STREAM_IDLE_TIMEOUT_S = 20.0
#: Pause between reconnects after an error (a browser uses the server's ``retry:``).
RECONNECT_PAUSE_S = 0.2


#: One block of the stream (the same parser as the synchronous test reader).
Event = Block


async def events(response: httpx.Response) -> AsyncIterator[Event]:
    event = Event()
    async for line in response.aiter_lines():
        if read_line(event, line) is not None:
            yield event
            event = Event()


def stream_url(run_id: str) -> str:
    return f"/api/agent-runs/{run_id}/messages/stream"


@dataclass
class Follower:
    """One viewer of one run: follows it to ``event: close``, resuming by id on every break."""

    client: httpx.AsyncClient
    run_id: str
    #: Messages received, in the order received: (cursor, message id, receive time).
    received: list[tuple[str, str, float]] = field(default_factory=list)
    last_event_id: str | None = None
    closed_with: str | None = None
    connects: int = 0
    errors: list[str] = field(default_factory=list)
    #: Called with each message's JSON as it arrives (latency probes).
    on_message: Callable[[dict[str, Any], float], None] | None = None
    #: Picks the client (the API process) of each new connection; default ``client``.
    pick_client: Callable[[], httpx.AsyncClient] | None = None

    async def connect_once(self, *, leave_after: int | None = None) -> None:
        """Read one connection: to close, to an error, or until ``leave_after`` messages."""
        headers = {"Last-Event-ID": self.last_event_id} if self.last_event_id else {}
        self.connects += 1
        taken = 0
        timeout = httpx.Timeout(10.0, read=STREAM_IDLE_TIMEOUT_S)
        client = self.pick_client() if self.pick_client is not None else self.client
        async with client.stream(
            "GET", stream_url(self.run_id), headers=headers, timeout=timeout
        ) as response:
            if response.status_code != 200:
                body = (await response.aread()).decode(errors="replace")
                self.errors.append(f"{response.status_code} {body}")
                return
            async for event in events(response):
                if event.event == "close":
                    self.closed_with = event.json()["status"]
                    return
                if not event.is_message:
                    continue
                now = time.monotonic()
                message = event.json()
                assert event.id == message["cursor"]
                self.received.append((message["cursor"], message["id"], now))
                self.last_event_id = event.id
                if self.on_message is not None:
                    self.on_message(message, now)
                taken += 1
                if leave_after is not None and taken >= leave_after:
                    return

    async def follow(
        self,
        *,
        deadline_s: float,
        leave_every: tuple[int, int] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """Follow to close; with ``leave_every=(lo, hi)`` hang up after lo..hi messages."""
        stop_at = time.monotonic() + deadline_s
        rng = rng or random.Random()
        while self.closed_with is None and time.monotonic() < stop_at:
            leave = rng.randint(*leave_every) if leave_every else None
            try:
                await self.connect_once(leave_after=leave)
            except (httpx.HTTPError, OSError) as error:
                self.errors.append(f"{type(error).__name__}: {error}")
                await asyncio.sleep(RECONNECT_PAUSE_S)

    def cursors(self) -> list[str]:
        return [cursor for cursor, _, _ in self.received]

    def message_ids(self) -> list[str]:
        return [message_id for _, message_id, _ in self.received]
