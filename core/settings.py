"""The client side's settings (CLIs, dashboard), read from the environment in one place.

The API has its own (``api.settings.Settings``); these are what a client needs to
reach it. Read at call time, so a changed environment (a test's monkeypatch, a
restarted dashboard) is seen.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

API_URL_ENV = "OMAKASE_API_URL"
API_TOKEN_ENV = "OMAKASE_API_TOKEN"  # noqa: S105 - a variable name, not a secret
#: The dashboard's password, required when it listens beyond loopback (pages/lib/gate.py).
DASHBOARD_PASSWORD_ENV = "OMAKASE_DASHBOARD_PASSWORD"  # noqa: S105 - a variable name, not a secret
#: Items per page the clients ask list routes for (unset: the server's cap); small in
#: tests, to prove that every reader follows the pages to the end.
API_PAGE_SIZE_ENV = "OMAKASE_API_PAGE_SIZE"
#: Default for ``OMAKASE_API_URL``: the API's default address (``python -m api``, ``make run``).
DEFAULT_API_URL = "http://127.0.0.1:8765"


@dataclass(frozen=True, slots=True)
class ClientSettings:
    api_url: str
    api_token: str = field(repr=False)
    dashboard_password: str = field(default="", repr=False)
    page_size: int | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ClientSettings:
        env = os.environ if environ is None else environ
        return cls(
            api_url=env.get(API_URL_ENV, DEFAULT_API_URL),
            api_token=env.get(API_TOKEN_ENV, ""),
            dashboard_password=env.get(DASHBOARD_PASSWORD_ENV, ""),
            page_size=int(env[API_PAGE_SIZE_ENV]) if env.get(API_PAGE_SIZE_ENV) else None,
        )
