"""Starlette's ``TestClient`` where our code takes an ``httpx.Client``.

Why a cast: with ``httpx2`` installed (the ``mcp`` SDK requires it), Starlette
builds its TestClient on ``httpx2.Client`` — the same API as ``httpx.Client``,
but another class to the type checker. Our clients only use that shared API.
"""

from __future__ import annotations

from typing import cast

import httpx
from fastapi.testclient import TestClient


def as_httpx(client: TestClient) -> httpx.Client:
    return cast(httpx.Client, client)
