"""A scripted Anthropic Messages API on 127.0.0.1, so the real Claude Code CLI runs offline.

The CLI streams ``POST /v1/messages?beta=true``; this server answers with the
same SSE event sequence Anthropic sends (``message_start``, content blocks with
``text_delta`` / ``input_json_delta``, ``message_delta`` with the stop reason and
usage, ``message_stop``), so the CLI runs its real agent loop — tools really
run — with no key and no network. Every request is recorded for assertions.

Agent-loop calls (those offering tools) are answered by the test's responder;
side calls without tools (the CLI's small helper prompts) get a fixed harmless
answer and never consume the script. See docs/CLAUDE_STREAM.md for what the
CLI was seen to call.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from tests.support.fake_model_script import (
    Block,
    ModelRequest,
    Predicate,
    Responder,
    scripted_policy,
    side_policy,
)

#: Rough characters per token, for plausible usage numbers.
CHARS_PER_TOKEN = 4
#: How long ``stop`` waits for the serving thread.
STOP_TIMEOUT_S = 5.0


def estimate_tokens(value: Any) -> int:
    return max(1, len(json.dumps(value)) // CHARS_PER_TOKEN)


def sse_events(blocks: list[Block], *, model: str, input_tokens: int) -> list[tuple[str, Any]]:
    """The Anthropic streaming events that deliver ``blocks`` as one assistant message."""
    output_tokens = estimate_tokens(blocks)
    usage = {
        "input_tokens": input_tokens,
        "output_tokens": 1,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    message: dict[str, Any] = {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    events: list[tuple[str, Any]] = [
        ("message_start", {"type": "message_start", "message": message})
    ]
    for index, block in enumerate(blocks):
        if block["type"] == "tool_use":
            start = {**block, "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        else:
            start = {"type": "text", "text": ""}
            delta = {"type": "text_delta", "text": block["text"]}
        events += [
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": start},
            ),
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": index}),
        ]
    stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
    events += [
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return events


def whole_message(blocks: list[Block], *, model: str, input_tokens: int) -> dict[str, Any]:
    """The non-streaming form of the same reply."""
    stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": estimate_tokens(blocks)},
    }


class FakeModel:
    """The server: ``with FakeModel() as model: env[ANTHROPIC_BASE_URL] = model.url``."""

    def __init__(self, responder: Responder = scripted_policy) -> None:
        self.responder = responder
        self.side_responder: Responder = side_policy
        self._requests: list[ModelRequest] = []
        self._changed = threading.Condition()
        #: Responder failures (tracebacks as text); the fixture fails the test on any.
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

    # -- the record ---------------------------------------------------------
    def record(self, request: ModelRequest) -> ModelRequest:
        with self._changed:
            numbered = dataclasses.replace(request, seq=len(self._requests))
            self._requests.append(numbered)
            self._changed.notify_all()
        return numbered

    @property
    def requests(self) -> list[ModelRequest]:
        """A snapshot of everything received, oldest first."""
        with self._changed:
            return list(self._requests)

    @property
    def agent_requests(self) -> list[ModelRequest]:
        """Only the agent loop's model calls (the ones the responder answered)."""
        return [r for r in self.requests if r.is_agent_call]

    def requests_containing(self, needle: str) -> list[ModelRequest]:
        return [r for r in self.requests if r.is_messages_call and r.contains(needle)]

    def wait_for_request(self, predicate: Predicate, timeout: float) -> ModelRequest:
        """The first recorded request matching ``predicate``, waiting up to ``timeout`` seconds."""
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

    def wait_for_text(self, needle: str, timeout: float) -> ModelRequest:
        return self.wait_for_request(lambda r: r.is_agent_call and r.contains(needle), timeout)

    def reply_for(self, request: ModelRequest) -> list[Block]:
        chosen = self.responder if request.is_agent_call else self.side_responder
        return chosen(request)


def _handler_for(model: FakeModel) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        fake = model

    return Handler


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive; streams are sent chunked, like Anthropic's."""

    protocol_version = "HTTP/1.1"
    fake: FakeModel

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the record is the log."""

    def _read_body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {"_raw": raw.decode(errors="replace")}
        return body if isinstance(body, dict) else {"_json": body}

    def _record(self) -> ModelRequest:
        body = self._read_body() if self.command in {"POST", "PUT", "PATCH"} else {}
        request = ModelRequest(
            self.command, self.path, body, dict(self.headers.items()), time.monotonic()
        )
        return self.fake.record(request)

    def _send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", f"req_{uuid.uuid4().hex[:24]}")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_HEAD(self) -> None:
        self._record()
        self._send_json(200, {})

    def do_GET(self) -> None:
        request = self._record()
        route = request.path.split("?")[0]
        if route.startswith("/v1/models"):
            model = {
                "type": "model",
                "id": "claude-sonnet-4-5",
                "display_name": "Claude Sonnet 4.5",
            }
            self._send_json(200, {"data": [model], "has_more": False, "first_id": None})
        else:
            self._send_json(200, {})

    def do_POST(self) -> None:
        request = self._record()
        route = request.path.split("?")[0]
        if route == "/v1/messages/count_tokens":
            self._send_json(200, {"input_tokens": estimate_tokens(request.body)})
            return
        if route != "/v1/messages":
            self._send_json(200, {})
            return
        try:
            blocks = self.fake.reply_for(request)
        except Exception as error:  # a broken script must fail the test, not hang the CLI
            self.fake.errors.append(f"request {request.seq}: {error!r}")
            self._send_json(
                500, {"type": "error", "error": {"type": "api_error", "message": str(error)}}
            )
            return
        model, tokens = request.model or "claude-sonnet-4-5", estimate_tokens(request.body)
        if request.body.get("stream"):
            self._stream(sse_events(blocks, model=model, input_tokens=tokens))
        else:
            self._send_json(200, whole_message(blocks, model=model, input_tokens=tokens))

    def _stream(self, events: list[tuple[str, Any]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("request-id", f"req_{uuid.uuid4().hex[:24]}")
        try:
            self.end_headers()
            for name, data in events:
                chunk = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            # The CLI drops the connection of a request it interrupted: not an error.
            self.close_connection = True
