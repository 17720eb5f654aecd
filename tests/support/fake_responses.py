"""A scripted OpenAI Responses API on 127.0.0.1, so the real codex CLI runs offline.

codex streams ``POST /v1/responses``; this server answers with the server-sent
events OpenAI sends (``response.created``, ``response.output_item.added`` /
``.done`` per output item, ``response.output_text.delta`` for text,
``response.completed`` with ``usage``), so ``codex app-server`` runs its real
agent loop — commands really run — with no key and no network. Every request
is recorded for assertions. See docs/AGENTS.md "Codex" for the provider flags
that point codex here.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from tests.support.fake_responses_script import (
    Item,
    Predicate,
    Responder,
    ResponsesRequest,
    codex_policy,
)

#: Rough characters per token, for plausible usage numbers.
CHARS_PER_TOKEN = 4
#: How long ``stop`` waits for the serving thread.
STOP_TIMEOUT_S = 5.0
#: The model name codex is told to use (any name works against this server).
MODEL = "scripted-model"


def estimate_tokens(value: Any) -> int:
    return max(1, len(json.dumps(value)) // CHARS_PER_TOKEN)


def sse_events(items: list[Item], *, input_tokens: int) -> list[tuple[str, Any]]:
    """The Responses streaming events that deliver ``items`` as one response."""
    response_id = f"resp_{uuid.uuid4().hex[:24]}"
    base = {"id": response_id, "object": "response", "model": MODEL, "status": "in_progress"}
    events: list[tuple[str, Any]] = [
        ("response.created", {"type": "response.created", "response": {**base, "output": []}})
    ]
    for index, item in enumerate(items):
        events.append(
            (
                "response.output_item.added",
                {"type": "response.output_item.added", "output_index": index, "item": item},
            )
        )
        if item.get("type") == "message":
            for part_index, part in enumerate(item.get("content", [])):
                events.append(
                    (
                        "response.output_text.delta",
                        {
                            "type": "response.output_text.delta",
                            "item_id": item.get("id"),
                            "output_index": index,
                            "content_index": part_index,
                            "delta": part.get("text", ""),
                        },
                    )
                )
        events.append(
            (
                "response.output_item.done",
                {"type": "response.output_item.done", "output_index": index, "item": item},
            )
        )
    output_tokens = estimate_tokens(items)
    usage = {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }
    done = {**base, "status": "completed", "output": items, "usage": usage}
    events.append(("response.completed", {"type": "response.completed", "response": done}))
    return events


class FakeResponses:
    """The server: ``with FakeResponses() as model: provider base_url = model.url + "/v1"``."""

    def __init__(self, responder: Responder = codex_policy) -> None:
        self.responder = responder
        self._requests: list[ResponsesRequest] = []
        self._changed = threading.Condition()
        #: Responder failures; the fixture fails the test on any.
        self.errors: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(STOP_TIMEOUT_S)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def record(self, request: ResponsesRequest) -> ResponsesRequest:
        with self._changed:
            numbered = dataclasses.replace(request, seq=len(self._requests))
            self._requests.append(numbered)
            self._changed.notify_all()
        return numbered

    @property
    def requests(self) -> list[ResponsesRequest]:
        with self._changed:
            return list(self._requests)

    def wait_for_request(self, predicate: Predicate, timeout: float) -> ResponsesRequest:
        """The first recorded request matching ``predicate``, waiting up to ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for request in self._requests:
                    if predicate(request):
                        return request
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no matching model request within {timeout} s")
                self._changed.wait(left)

    def wait_for_text(self, needle: str, timeout: float) -> ResponsesRequest:
        return self.wait_for_request(lambda r: r.contains(needle), timeout)


def _handler_for(model: FakeResponses) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        fake = model

    return Handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeResponses

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the record is the log."""

    def _send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.split("?")[0].endswith("/models"):
            self._send_json(200, {"object": "list", "data": [], "models": []})
        else:
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        if self.path.split("?")[0] != "/v1/responses" or not isinstance(body, dict):
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})
            return
        request = self.fake.record(ResponsesRequest(self.path, body, time.monotonic()))
        try:
            items = self.fake.responder(request)
        except Exception as error:  # a broken script must fail the test, not hang the CLI
            self.fake.errors.append(f"request {request.seq}: {error!r}")
            self._send_json(500, {"error": {"message": str(error), "type": "server_error"}})
            return
        self._stream(sse_events(items, input_tokens=estimate_tokens(body)))

    def _stream(self, events: list[tuple[str, Any]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        try:
            self.end_headers()
            for name, data in events:
                chunk = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # codex dropped a request it interrupted
