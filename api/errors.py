"""Error responses: always ``{"detail": "<a sentence>"}`` with the right status code.

FastAPI's default validation error is a list of machine records; clients and
people want one sentence that says what is wrong, so ``describe_validation``
turns the records into that (the first few problems, most useful first).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.store.errors import (
    ConditionFailed,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    StoreError,
    StoreUnavailableError,
    UpstreamError,
)

log = logging.getLogger(__name__)

#: Seconds a client should wait before retrying after a 503 from the store.
STORE_RETRY_AFTER_S = 5
#: FastAPI's detail when it cannot decode a request body (e.g. bytes that are not UTF-8).
FASTAPI_BODY_PARSE_ERROR = "There was an error parsing the body"
NOT_UTF8_DETAIL = "The request body is not valid JSON: send UTF-8 encoded JSON text."
#: Problems listed in one validation detail (the rest are summarised).
MAX_PROBLEMS = 3


class ErrorDetail(BaseModel):
    """The body of every error response: one sentence that says what is wrong."""

    detail: str


#: Documented on every ``/api`` operation, so the OpenAPI schema describes the real
#: error shape (FastAPI's default 422 schema is a list of records, which we never send).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorDetail, "description": "The bearer token is missing or not valid."},
    403: {"model": ErrorDetail, "description": "An agent token used outside its own run."},
    404: {"model": ErrorDetail, "description": "The project, feature or run does not exist."},
    413: {"model": ErrorDetail, "description": "The request body is too large."},
    422: {"model": ErrorDetail, "description": "Invalid input; the sentence says which."},
    502: {"model": ErrorDetail, "description": "A git remote refused or failed; git's words."},
    503: {"model": ErrorDetail, "description": "The store is unreachable or busy (Retry-After)."},
}

_STATUS_BY_ERROR: tuple[tuple[type[StoreError], int], ...] = (
    (NotFoundError, 404),
    (ConflictError, 409),
    (ConditionFailed, 409),
    (InvalidInputError, 422),
    (StoreUnavailableError, 503),
    (UpstreamError, 502),
)

_PLACE = {
    "body": "body field",
    "query": "query parameter",
    "path": "path parameter",
    "header": "header",
}


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "?", "!")) else text + "."


def _describe_one(error: dict[str, Any]) -> str:
    loc: Sequence[Any] = error.get("loc", ())
    kind = error.get("type", "")
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    place = str(loc[0]) if loc else "body"
    field = ".".join(str(part) for part in loc[1:])
    if kind == "json_invalid":
        return "The request body is not valid JSON."
    if place == "body" and not field:
        if kind == "missing":
            return "The request body is required: send a JSON object."
        return "The request body must be a JSON object (Content-Type: application/json)."
    if kind == "extra_forbidden":
        return f"Unknown {_PLACE.get(place, place)} '{field}': remove it (fields are camelCase)."
    if kind == "missing":
        return f"The {_PLACE.get(place, place)} '{field}' is required."
    return _sentence(f"Invalid {_PLACE.get(place, place)} '{field}': {message}")


def describe_validation(errors: Sequence[dict[str, Any]]) -> str:
    sentences = list(dict.fromkeys(_describe_one(e) for e in errors))
    shown = " ".join(sentences[:MAX_PROBLEMS])
    hidden = len(sentences) - MAX_PROBLEMS
    return shown + (f" ({hidden} more problem{'s' if hidden > 1 else ''}.)" if hidden > 0 else "")


def status_for(error: StoreError) -> int:
    for kind, status in _STATUS_BY_ERROR:
        if isinstance(error, kind):
            return status
    return 503


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": describe_validation(exc.errors())})

    @app.exception_handler(StoreError)
    async def _store(_: Request, exc: StoreError) -> JSONResponse:
        status = status_for(exc)
        headers = {"Retry-After": str(STORE_RETRY_AFTER_S)} if status == 503 else None
        if status == 503:
            log.warning("store unavailable: %s", exc)
        return JSONResponse(status_code=status, content={"detail": str(exc)}, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == FASTAPI_BODY_PARSE_ERROR:
            # FastAPI's answer to a body that is not UTF-8 (b"\xff"): a vague 400, while
            # every other undecodable body is our 422 with a sentence. Make them one.
            return JSONResponse(status_code=422, content={"detail": NOT_UTF8_DETAIL})
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return JSONResponse(
            status_code=exc.status_code,
            content={"detail": _sentence(detail)},
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(
            status_code=500,
            content={"detail": "The service hit an unexpected error; it is in the service log."},
        )
