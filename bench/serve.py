"""Bench-only API process: the real app, a DynamoDB call counter, and a per-connection baseline.

Never used by the product. ``bench/chat_sse.py`` starts it (``python -m bench.serve``)
to count the store calls the stream costs:

* every boto3 call of this process is counted by operation (a botocore
  ``before-call`` event hook), read with ``GET /bench/calls``;
* ``GET /bench/per-connection/{runId}/stream`` is the design the hub replaces:
  each connection polls the store itself (the run's status and the messages
  after its cursor) every ``stream_poll_seconds`` — the original feature's way.
"""

from __future__ import annotations

import asyncio
import functools
import sys
import threading
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import anyio
import uvicorn
from fastapi import FastAPI
from sse_starlette import EventSourceResponse

from api.app import create_app
from api.settings import get_settings
from api.store.db import make_db
from api.store.messages import list_messages
from api.store.runs import get_run
from api.streaming.wire import close_event, message_event, retry_hint
from core.cursor import format_cursor, parse_cursor


def build() -> FastAPI:
    settings = get_settings()
    db = make_db(settings)
    calls: Counter[str] = Counter()
    lock = threading.Lock()

    def count(model: Any, **_: Any) -> None:
        with lock:
            calls[model.name] += 1

    db.client.meta.events.register("before-call.dynamodb", count)
    app = create_app(settings, db)

    @app.get("/bench/calls")
    def get_calls() -> dict[str, int]:
        with lock:
            return dict(calls)

    @app.get("/bench/per-connection/{run_id}/stream")
    async def per_connection(run_id: str) -> EventSourceResponse:
        async def events() -> AsyncIterator[bytes]:
            yield retry_hint()
            sent = 0
            while True:
                run = await anyio.to_thread.run_sync(lambda: get_run(db, run_id=run_id))
                messages = await anyio.to_thread.run_sync(
                    functools.partial(list_messages, db, run_id=run_id, since=format_cursor(sent))
                )
                for message in messages:
                    yield message_event(message)
                    sent = parse_cursor(message.cursor)
                if run.status.is_terminal:
                    yield close_event(run.status)
                    return
                await asyncio.sleep(settings.stream_poll_seconds)

        return EventSourceResponse(events(), ping=settings.stream_ping_seconds)

    return app


def main() -> int:
    settings = get_settings()
    uvicorn.run(build(), host=settings.api_host, port=settings.api_port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
