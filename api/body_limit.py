"""A cap on request body size, answered with our JSON error shape.

Why not FastAPI's ``max_body_size``: when the client sends a ``Content-Length``
over the cap, Starlette's limiter answers ``text/plain`` "Content Too Large",
outside our error handlers. Here a declared length over the cap gets the JSON
413 at once (the body is never read), and a body streamed without a length is
counted as it arrives: past the cap, reading it raises the same 413 through the
app's error handlers.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Largest request body accepted. The largest valid body, a 32,000-character message
#: of 4-byte characters, is ~128 KB; nothing legitimate comes near 1 MiB.
MAX_REQUEST_BODY_BYTES = 1_048_576
TOO_LARGE_DETAIL = (
    f"The request body is larger than {MAX_REQUEST_BODY_BYTES:,} bytes: a message is at "
    "most 32,000 characters (put long output in the logs)."
)


def too_large() -> HTTPException:
    return HTTPException(413, TOO_LARGE_DETAIL)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_REQUEST_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            response = JSONResponse({"detail": TOO_LARGE_DETAIL}, status_code=413)
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise too_large()
            return message

        await self.app(scope, counting_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
