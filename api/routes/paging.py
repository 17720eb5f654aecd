"""A page-size cap on every list route, with a clear way to the next page.

Why: a list answered whole grows with the data (a thread of 100,000 messages
is one response, one JSON document in memory). Every list route returns at
most its cap; when more follow, the response carries ``X-Next-Cursor`` (pass
it back as the route's continuation parameter) and an RFC 8288 ``Link`` header
with the complete URL of the next page. Under the cap nothing changes: the
whole list, no headers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, TypeVar

from fastapi import HTTPException, Query, Request, Response, status

T = TypeVar("T")

#: Projects, features and runs per page.
MAX_PAGE_ITEMS = 1_000
NEXT_CURSOR_HEADER = "X-Next-Cursor"

#: The list routes' query parameters: where the page starts, and its size (at most the cap).
AfterParam = Annotated[str | None, Query(description="The previous page's X-Next-Cursor.")]
LimitParam = Annotated[int | None, Query(ge=1, le=MAX_PAGE_ITEMS)]


def page_size(limit: int | None) -> int:
    """A ``LimitParam``'s page size: the cap when absent (or above it)."""
    return min(limit or MAX_PAGE_ITEMS, MAX_PAGE_ITEMS)


def announce_next(request: Request, response: Response, *, param: str, cursor: str) -> None:
    """Tell the client where the next page starts (header cursor and ``Link``)."""
    url = request.url.include_query_params(**{param: cursor})
    response.headers[NEXT_CURSOR_HEADER] = cursor
    response.headers["Link"] = f'<{url}>; rel="next"'


def trim_page(
    items: Sequence[T],
    *,
    limit: int,
    key: Callable[[T], str],
    request: Request,
    response: Response,
    param: str,
) -> list[T]:
    """The first ``limit`` items; announce the next page when there are more."""
    page = list(items[:limit])
    if len(items) > limit:
        announce_next(request, response, param=param, cursor=key(page[-1]))
    return page


def page_after(
    items: Sequence[T],
    *,
    after: str | None,
    limit: int,
    key: Callable[[T], str],
    request: Request,
    response: Response,
    param: str = "after",
) -> list[T]:
    """The page of ``items`` (already in order) following the item whose key is ``after``."""
    start = 0
    if after is not None:
        keys = [key(item) for item in items]
        if after not in keys:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"Invalid query parameter '{param}': '{after[:80]}' is not an item of this list "
                f"(use the {NEXT_CURSOR_HEADER} header of the previous page).",
            )
        start = keys.index(after) + 1
    return trim_page(
        items[start:], limit=limit, key=key, request=request, response=response, param=param
    )
