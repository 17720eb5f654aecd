"""The plumbing under ``ApiClient``: one pooled ``httpx.Client``, errors as sentences.

Failures are two exceptions a caller can show as one clear sentence:

* ``ApiError(status, detail)`` — the API answered with an error status; ``detail``
  is the API's own sentence;
* ``ApiUnavailable`` (a subclass, ``status == 0``) — no answer at all: connection
  refused, DNS, timeout.

Lists come in pages (api/routes/paging.py): a page that is not the last says
where the next one is (``Link: <…>; rel="next"`` and ``X-Next-Cursor``), and
``_pages`` follows it to the end, so no reader stops at the first page.

The routes themselves (paths, models) are ``core.client``'s.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from core.settings import ClientSettings

#: Seconds for connect/read of one request; the dashboard must never hang on a call.
DEFAULT_TIMEOUT_S = 10.0
#: Status of an ``ApiUnavailable``: no HTTP answer was received.
NO_RESPONSE = 0

M = TypeVar("M", bound=BaseModel)


@cache
def _list_adapter(model: type[M]) -> TypeAdapter[list[M]]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


class ApiError(Exception):
    """The API answered with an error: ``status`` and its ``detail`` sentence."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}" if status else detail)
        self.status = status
        self.detail = detail

    @property
    def is_auth_error(self) -> bool:
        return self.status in (401, 403)


class ApiUnavailable(ApiError):
    """No answer from the API (connection refused, timeout, DNS)."""

    def __init__(self, detail: str) -> None:
        super().__init__(NO_RESPONSE, detail)


def detail_of(response: httpx.Response) -> str:
    """The API's ``detail`` sentence (errors are ``{"detail": ...}``), or what it sent."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return str(body["detail"])
    text = response.text.strip()
    return text[:300] if text else f"HTTP {response.status_code} {response.reason_phrase}"


def next_page(response: httpx.Response) -> str | None:
    """The next page's path and query (its ``Link: <…>; rel="next"``), or None on the last.

    Only the path and query are kept: the request goes to this client's base URL
    (the same API), whatever host name the server saw.
    """
    link = response.links.get("next", {}).get("url")
    if not link:
        return None
    return httpx.URL(link).raw_path.decode("ascii")


def query_params(**values: object) -> dict[str, str | int]:
    """Query parameters without the ``None`` ones (enums by value)."""
    out: dict[str, str | int] = {}
    for key, value in values.items():
        if value is None:
            continue
        out[key] = value if isinstance(value, int) else str(getattr(value, "value", value))
    return out


class ApiTransport:
    """Bearer-authenticated requests to one API; ``ApiClient`` adds a method per route."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        http: httpx.Client | None = None,
        page_size: int | None = None,
    ) -> None:
        """``http`` injects a ready client (e.g. FastAPI's ``TestClient``) instead;
        ``page_size`` asks list routes for pages that small (None: the server's cap)."""
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.page_size = page_size
        self._owns_http = http is None
        self.http = http or httpx.Client(base_url=self.base_url, timeout=timeout)
        self.http.headers["Authorization"] = f"Bearer {token}"

    @classmethod
    def from_env(cls, *, timeout: float = DEFAULT_TIMEOUT_S) -> Self:
        """``OMAKASE_API_URL`` and ``OMAKASE_API_TOKEN`` from the environment."""
        settings = ClientSettings.from_env()
        return cls(
            settings.api_url, settings.api_token, timeout=timeout, page_size=settings.page_size
        )

    def close(self) -> None:
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        """One request; ``timeout`` overrides the client's (a long download), else its own."""
        # Only passed when set: an injected client (Starlette's TestClient) may not take it.
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        try:
            response = self.http.request(method, path, params=params, json=json, **extra)
        except httpx.TimeoutException:
            raise ApiUnavailable(
                f"The API at {self.base_url} did not answer in time ({method} {path})."
            ) from None
        except httpx.TransportError as error:
            raise ApiUnavailable(
                f"Cannot reach the API at {self.base_url}: {error or type(error).__name__}."
            ) from None
        if response.status_code >= 400:
            raise ApiError(response.status_code, detail_of(response))
        return response

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
    ) -> Any:
        """One call; returns the decoded JSON body or raises ``ApiError``/``ApiUnavailable``."""
        response = self._send(method, path, params=params, json=json)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ApiError(
                response.status_code, f"The API answered {method} {path} with invalid JSON."
            ) from None

    def _one(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        response = self._send(method, path, **kwargs)
        try:
            return model.model_validate_json(response.content)
        except ValidationError as error:
            raise ApiError(
                response.status_code,
                f"Unexpected answer from {method} {path}: {error.error_count()} problems.",
            ) from None

    def _pages(
        self, method: str, path: str, *, params: Mapping[str, str | int] | None = None
    ) -> Iterator[httpx.Response]:
        """Every page of a list, following each page's ``Link: rel="next"`` to the last."""
        target, query = path, params
        while True:
            response = self._send(method, target, params=query)
            yield response
            following = next_page(response)
            if following is None:
                return
            target, query = following, None

    def _many(
        self,
        model: type[M],
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
    ) -> list[M]:
        """Every item of a list route, all pages (``page_size`` per page when set)."""
        sized = dict(params or {})
        if self.page_size is not None:
            sized.setdefault("limit", self.page_size)
        items: list[M] = []
        for response in self._pages(method, path, params=sized):
            items.extend(self._parse_list(model, method, path, response))
        return items

    def _page(self, model: type[M], method: str, path: str, **kwargs: Any) -> list[M]:
        """One page only (the caller asked for a ``limit``)."""
        return self._parse_list(model, method, path, self._send(method, path, **kwargs))

    @staticmethod
    def _parse_list(model: type[M], method: str, path: str, response: httpx.Response) -> list[M]:
        """A JSON list parsed straight from the bytes (no intermediate dicts: fast pages)."""
        try:
            return _list_adapter(model).validate_json(response.content)
        except ValidationError as error:
            raise ApiError(
                response.status_code,
                f"Unexpected answer from {method} {path}: {error.error_count()} problems.",
            ) from None
