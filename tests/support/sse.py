"""A strict reader of the raw SSE wire for tests (ids, event names, comments, retry).

httpx-sse hides comments and field-only blocks; these tests assert on them, so
they read the lines themselves.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

#: Read timeout of a test stream: a hung stream fails the test instead of hanging it.
STREAM_READ_TIMEOUT_S = 15.0


@dataclass
class Block:
    """One blank-line-terminated block of the stream."""

    id: str | None = None
    event: str | None = None
    data: list[str] = field(default_factory=list)
    retry: int | None = None
    comments: list[str] = field(default_factory=list)

    @property
    def is_message(self) -> bool:
        return self.event is None and bool(self.data)

    def json(self) -> Any:
        return json.loads("\n".join(self.data))


def read_line(block: Block, line: str) -> Block | None:
    """Add one wire line to ``block``; returns the finished block at a blank line."""
    if line == "":
        return block
    name, _, value = line.partition(":")
    value = value.removeprefix(" ")
    if name == "":
        block.comments.append(value)
    elif name == "id":
        block.id = value
    elif name == "event":
        block.event = value
    elif name == "data":
        block.data.append(value)
    elif name == "retry":
        block.retry = int(value)
    return None


def blocks(response: httpx.Response) -> Iterator[Block]:
    block = Block()
    for line in response.iter_lines():
        if read_line(block, line) is not None:
            yield block
            block = Block()


def open_stream(
    client: httpx.Client, run_id: str, *, last_event_id: str | None = None, **params: str
) -> Any:
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    return client.stream(
        "GET",
        f"/api/agent-runs/{run_id}/messages/stream",
        headers=headers,
        params=params,
        timeout=httpx.Timeout(10.0, read=STREAM_READ_TIMEOUT_S),
    )


def take_messages(stream: Iterator[Block], count: int) -> list[dict[str, Any]]:
    """The next ``count`` message events (skipping pings and hints)."""
    taken: list[dict[str, Any]] = []
    for block in stream:
        if block.is_message:
            message = block.json()
            assert block.id == message["cursor"]
            taken.append(message)
            if len(taken) == count:
                break
    return taken
