"""The dashboard's one ``ApiClient`` and the banner shown when the API fails.

Settings come from the environment (``OMAKASE_API_URL``, ``OMAKASE_API_TOKEN``).
The client is a ``st.cache_resource`` (one pooled HTTP client for every session);
tests inject their own through ``st.session_state[CLIENT_KEY]``.

``api_guard`` turns an ``ApiError`` into a banner a person can act on — never
a traceback — and stops the page (or fragment) there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, cast

import streamlit as st
from streamlit.errors import StreamlitAPIException
from streamlit_autorefresh import st_autorefresh

from core.client import ApiClient, ApiError, ApiUnavailable
from core.settings import ClientSettings

#: Session-state key tests use to inject a client (real or fake).
CLIENT_KEY = "oma_api_client"
#: Milliseconds between automatic retries of a page whose API call failed transiently.
RETRY_MS = 5_000
#: Seconds per request: a page must stay responsive when the API hangs.
DASHBOARD_TIMEOUT_S = 5.0


@st.cache_resource(show_spinner=False)
def _shared_client(base_url: str, token: str) -> ApiClient:
    return ApiClient(base_url, token, timeout=DASHBOARD_TIMEOUT_S)


def api_url() -> str:
    return ClientSettings.from_env().api_url


def get_client() -> ApiClient:
    injected = st.session_state.get(CLIENT_KEY)
    if injected is not None:
        return cast(ApiClient, injected)
    settings = ClientSettings.from_env()
    return _shared_client(settings.api_url, settings.api_token)


def describe(error: ApiError, *, url: str | None = None) -> tuple[str, str]:
    """(title, advice) for a failed call."""
    where = url or api_url()
    if isinstance(error, ApiUnavailable):
        return (
            f"The Omakase API at {where} is unreachable.",
            "Start it with `make run` (or `python -m api`) and check `OMAKASE_API_URL`. "
            "This page tries again every few seconds.",
        )
    if error.status == 401:
        return (
            "The API refused the dashboard's token.",
            "Set `OMAKASE_API_TOKEN` to the operator token (`make run` keeps it "
            "in `.data/api-token`) and restart the dashboard.",
        )
    if error.status == 403:
        return ("The API refused this action.", error.detail)
    if error.status == 404:
        return ("Not found.", error.detail)
    if error.status >= 500:
        return (
            "The API is having trouble.",
            f"{error.detail} This page tries again every few seconds.",
        )
    return (f"The API answered {error.status}.", error.detail)


def is_transient(error: ApiError) -> bool:
    """Worth retrying by itself: no answer, or the service (or its store) is down."""
    return isinstance(error, ApiUnavailable) or error.status >= 500


def show_error(error: ApiError) -> None:
    title, advice = describe(error)
    st.error(f"**{title}** {advice}", icon="⚠️")
    if is_transient(error):
        # The page may have stopped before its own refreshers: retry the whole page.
        with suppress(StreamlitAPIException):  # already scheduled by another banner
            st_autorefresh(interval=RETRY_MS, key="oma_api_retry")


@contextmanager
def api_guard(*, stop: bool = True) -> Iterator[None]:
    """Show an ``ApiError`` as a banner; stop the script (or fragment) unless ``stop=False``."""
    try:
        yield
    except ApiError as error:
        show_error(error)
        if stop:
            st.stop()


def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run one client call under ``api_guard`` (banner + stop on failure)."""
    with api_guard():
        return fn(*args, **kwargs)
    return None  # pragma: no cover - st.stop() raised
