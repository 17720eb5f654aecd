"""``ApiClient``: the typed, synchronous REST client of the Omakase API.

The dashboard, the export CLI, scripts and tests all talk to the service through
this one class, so the HTTP contract (paths, camelCase JSON, bearer token,
``{"detail": ...}`` errors) is encoded once. It never touches DynamoDB.

Failures are two exceptions a caller can show as one clear sentence:

* ``ApiError(status, detail)`` — the API answered with an error status; ``detail``
  is the API's own sentence;
* ``ApiUnavailable`` (a subclass, ``status == 0``) — no answer at all: connection
  refused, DNS, timeout.

Sync httpx on purpose: Streamlit reruns are synchronous scripts, and one pooled
``httpx.Client`` (held in ``st.cache_resource``) keeps connections alive.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from core.models import (
    Agent,
    AgentMessage,
    AgentRun,
    AgentRunStatus,
    DeliveryMode,
    Feature,
    LogLine,
    MessageSender,
    Project,
    ReadMarker,
)
from core.settings import ClientSettings

#: Seconds for connect/read of one request; the dashboard must never hang on a call.
DEFAULT_TIMEOUT_S = 10.0
#: Page size of the paginated helpers (``iter_messages``).
DEFAULT_PAGE_SIZE = 1_000
#: Status of an ``ApiUnavailable``: no HTTP answer was received.
NO_RESPONSE = 0

if TYPE_CHECKING:
    from core.chat import FeatureChat

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


def _params(**values: object) -> dict[str, str | int]:
    """Query parameters without the ``None`` ones (enums by value)."""
    out: dict[str, str | int] = {}
    for key, value in values.items():
        if value is None:
            continue
        out[key] = value if isinstance(value, int) else str(getattr(value, "value", value))
    return out


class ApiClient:
    """Typed methods for every route of the HTTP contract (v1)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        http: httpx.Client | None = None,
    ) -> None:
        """``http`` injects a ready client (e.g. FastAPI's ``TestClient``) instead."""
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._owns_http = http is None
        self.http = http or httpx.Client(base_url=self.base_url, timeout=timeout)
        self.http.headers["Authorization"] = f"Bearer {token}"

    @classmethod
    def from_env(cls, *, timeout: float = DEFAULT_TIMEOUT_S) -> ApiClient:
        """``OMAKASE_API_URL`` and ``OMAKASE_API_TOKEN`` from the environment."""
        settings = ClientSettings.from_env()
        return cls(settings.api_url, settings.api_token, timeout=timeout)

    # --- plumbing ----------------------------------------------------------------

    def close(self) -> None:
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> ApiClient:
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
    ) -> httpx.Response:
        try:
            response = self.http.request(method, path, params=params, json=json)
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

    def _many(self, model: type[M], method: str, path: str, **kwargs: Any) -> list[M]:
        """A JSON list parsed straight from the bytes (no intermediate dicts: fast pages)."""
        response = self._send(method, path, **kwargs)
        try:
            return _list_adapter(model).validate_json(response.content)
        except ValidationError as error:
            raise ApiError(
                response.status_code,
                f"Unexpected answer from {method} {path}: {error.error_count()} problems.",
            ) from None

    # --- health -------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """``GET /healthz`` (no token needed); raises ``ApiError(503)`` when the store is down."""
        body = self.request("GET", "/healthz")
        return dict(body) if isinstance(body, dict) else {}

    # --- projects and agents --------------------------------------------------------

    def list_projects(self) -> list[Project]:
        return self._many(Project, "GET", "/api/projects")

    def get_project(self, project_id: str) -> Project:
        return self._one(Project, "GET", f"/api/projects/{project_id}")

    def create_project(
        self, name: str, *, description: str = "", max_concurrency: int | None = None
    ) -> Project:
        body: dict[str, Any] = {"name": name, "description": description}
        if max_concurrency is not None:
            body["maxConcurrency"] = max_concurrency
        return self._one(Project, "POST", "/api/projects", json=body)

    def list_agents(self, project_id: str) -> list[Agent]:
        return self._many(Agent, "GET", f"/api/projects/{project_id}/agents")

    # --- features ---------------------------------------------------------------------

    def list_features(self, project_id: str) -> list[Feature]:
        return self._many(Feature, "GET", f"/api/projects/{project_id}/features")

    def get_feature(self, feature_id: str) -> Feature:
        return self._one(Feature, "GET", f"/api/features/{feature_id}")

    def create_feature(
        self,
        project_id: str,
        name: str,
        *,
        description: str = "",
        priority: int | None = None,
        dependencies: list[str] | None = None,
    ) -> Feature:
        body: dict[str, Any] = {"name": name, "description": description}
        if priority is not None:
            body["priority"] = priority
        if dependencies:
            body["dependencies"] = dependencies
        return self._one(Feature, "POST", f"/api/projects/{project_id}/features", json=body)

    def start_feature(self, feature_id: str) -> dict[str, Any]:
        """``POST /api/features/{id}/start`` (202): the API's answer as JSON."""
        body = self.request("POST", f"/api/features/{feature_id}/start")
        return dict(body) if isinstance(body, dict) else {}

    def feature_messages(self, feature_id: str) -> list[AgentMessage]:
        """All runs' messages of a feature, oldest first (the ``by_feature`` index)."""
        return self._many(AgentMessage, "GET", f"/api/features/{feature_id}/messages")

    # --- runs ---------------------------------------------------------------------------

    def list_runs(self, project_id: str) -> list[AgentRun]:
        """A project's runs, newest first."""
        return self._many(AgentRun, "GET", f"/api/projects/{project_id}/agent-runs")

    def get_run(self, run_id: str) -> AgentRun:
        return self._one(AgentRun, "GET", f"/api/agent-runs/{run_id}")

    def update_run_status(
        self,
        run_id: str,
        status: AgentRunStatus,
        *,
        output_summary: str | None = None,
        error_message: str | None = None,
    ) -> AgentRun:
        body: dict[str, Any] = {"status": status.value}
        if output_summary is not None:
            body["outputSummary"] = output_summary
        if error_message is not None:
            body["errorMessage"] = error_message
        return self._one(AgentRun, "PATCH", f"/api/agent-runs/{run_id}", json=body)

    def cancel_run(self, run_id: str) -> AgentRun:
        return self._one(AgentRun, "POST", f"/api/agent-runs/{run_id}/cancel")

    # --- messages ---------------------------------------------------------------------

    def list_messages(
        self,
        run_id: str,
        *,
        since: str | None = None,
        sender: MessageSender | str | None = None,
        limit: int | None = None,
    ) -> list[AgentMessage]:
        """The thread oldest first; ``since`` is a cursor (exclusive) or an ISO timestamp."""
        return self._many(
            AgentMessage,
            "GET",
            f"/api/agent-runs/{run_id}/messages",
            params=_params(since=since, sender=sender, limit=limit),
        )

    def iter_messages(
        self,
        run_id: str,
        *,
        since: str | None = None,
        sender: MessageSender | str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> Iterator[list[AgentMessage]]:
        """The thread in pages of ``page_size`` (``limit`` + ``since=<last cursor>``)."""
        cursor = since
        while True:
            page = self.list_messages(run_id, since=cursor, sender=sender, limit=page_size)
            if page:
                yield page
            if len(page) < page_size:
                return
            cursor = page[-1].cursor

    def iter_message_rows(
        self, run_id: str, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[list[dict[str, Any]]]:
        """The thread as raw camelCase JSON rows, in pages: for bulk readers (the export),
        where building 100,000 models would cost more than the whole export."""
        cursor: str | None = None
        while True:
            page = self.request(
                "GET",
                f"/api/agent-runs/{run_id}/messages",
                params=_params(since=cursor, limit=page_size),
            )
            if not isinstance(page, list):
                raise ApiError(200, f"Unexpected answer listing the messages of run {run_id}.")
            if page:
                yield page
            if len(page) < page_size:
                return
            cursor = str(page[-1]["cursor"])

    def post_message(
        self, run_id: str, content: str, *, message_id: str | None = None
    ) -> AgentMessage:
        """A user message (``message_id`` makes a retry idempotent)."""
        body: dict[str, Any] = {"content": content}
        if message_id is not None:
            body["id"] = message_id
        return self._one(AgentMessage, "POST", f"/api/agent-runs/{run_id}/messages", json=body)

    def post_feature_message(
        self,
        feature_id: str,
        content: str,
        *,
        message_id: str | None = None,
        mode: DeliveryMode | None = None,
    ) -> AgentMessage:
        """A user message to a feature's conversation (its running step, or the next one)."""
        body: dict[str, Any] = {"content": content}
        if message_id is not None:
            body["id"] = message_id
        if mode is not None:
            body["mode"] = mode.value
        return self._one(AgentMessage, "POST", f"/api/features/{feature_id}/messages", json=body)

    def withdraw_message(self, run_id: str, message_id: str) -> None:
        """Withdraw a user message not yet sent or delivered (``ApiError`` 409 once it was)."""
        self._send("DELETE", f"/api/agent-runs/{run_id}/messages/{message_id}")

    def open_feature_chat(self, feature_id: str) -> FeatureChat:
        """A live ``core.chat.FeatureChat`` on the feature's stream (close it when done)."""
        from core.chat import FeatureChat  # core.chat imports this module

        return FeatureChat(feature_id, base_url=self.base_url, token=self.token)

    def mark_read(self, run_id: str, cursor: str) -> ReadMarker:
        """Move the run's read marker (clears the agent's unread badge)."""
        return self._one(
            ReadMarker, "PUT", f"/api/agent-runs/{run_id}/read", json={"cursor": cursor}
        )

    # --- logs ---------------------------------------------------------------------------

    def run_logs(
        self, run_id: str, *, since: str | None = None, limit: int | None = None
    ) -> list[LogLine]:
        return self._many(
            LogLine,
            "GET",
            f"/api/agent-runs/{run_id}/logs",
            params=_params(since=since, limit=limit),
        )

    def project_logs(
        self, project_id: str, *, since: str | None = None, limit: int | None = None
    ) -> list[LogLine]:
        """A project's recent log lines across runs; ``since`` is an ISO timestamp."""
        return self._many(
            LogLine,
            "GET",
            f"/api/projects/{project_id}/logs",
            params=_params(since=since, limit=limit),
        )
