"""``ApiClient``: the typed, synchronous REST client of the Omakase API.

The dashboard, the export CLI, scripts and tests all talk to the service through
this one class, so the HTTP contract (paths, camelCase JSON, bearer token,
``{"detail": ...}`` errors) is encoded once. It never touches DynamoDB.

Failures are ``ApiError`` (an error answer) and ``ApiUnavailable`` (no answer),
defined with the plumbing in ``core.api_http`` and re-exported here.

Sync httpx on purpose: Streamlit reruns are synchronous scripts, and one pooled
``httpx.Client`` (held in ``st.cache_resource``) keeps connections alive.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from core.api_http import (
    DEFAULT_TIMEOUT_S,
    NO_RESPONSE,
    ApiError,
    ApiUnavailable,
    detail_of,
    query_params,
)
from core.chat import FeatureChat
from core.client_repo import DiffText, RepoRoutes
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

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_TIMEOUT_S",
    "NO_RESPONSE",
    "ApiClient",
    "ApiError",
    "ApiUnavailable",
    "DiffText",
    "detail_of",
]

#: Page size of the paginated helpers (``iter_messages``).
DEFAULT_PAGE_SIZE = 1_000


class ApiClient(RepoRoutes):
    """Typed methods for every route of the HTTP contract (v3's repository: ``RepoRoutes``)."""

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
        self,
        name: str,
        *,
        description: str = "",
        max_concurrency: int | None = None,
        repository: str | None = None,
        base_branch: str | None = None,
    ) -> Project:
        """``repository``: a local work tree's absolute path or a git URL (422 when git
        cannot use it); ``base_branch``: default, the repository's default branch."""
        body: dict[str, Any] = {"name": name, "description": description}
        if max_concurrency is not None:
            body["maxConcurrency"] = max_concurrency
        if repository:
            body["repository"] = repository
        if base_branch:
            body["baseBranch"] = base_branch
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

    def start_feature(self, feature_id: str, *, override: bool = False) -> dict[str, Any]:
        """``POST /api/features/{id}/start`` (202): the API's answer as JSON.

        ``ApiError`` 409 when its project already runs ``maxConcurrency`` features,
        unless ``override`` (then it starts past the limit, ``startedOverLimit``).
        """
        params = {"override": "true"} if override else None
        body = self.request("POST", f"/api/features/{feature_id}/start", params=params)
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
        """The thread oldest first; ``since`` is a cursor (exclusive) or an ISO timestamp.

        Every page without ``limit``; with it, only the first ``limit`` messages.
        """
        path = f"/api/agent-runs/{run_id}/messages"
        params = query_params(since=since, sender=sender, limit=limit)
        if limit is not None:
            return self._page(AgentMessage, "GET", path, params=params)
        return self._many(AgentMessage, "GET", path, params=params)

    def iter_messages(
        self,
        run_id: str,
        *,
        since: str | None = None,
        sender: MessageSender | str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> Iterator[list[AgentMessage]]:
        """The thread in pages of ``page_size``, following each page's link to the next."""
        path = f"/api/agent-runs/{run_id}/messages"
        params = query_params(since=since, sender=sender, limit=page_size)
        for response in self._pages("GET", path, params=params):
            page = self._parse_list(AgentMessage, "GET", path, response)
            if page:
                yield page

    def iter_message_rows(
        self, run_id: str, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[list[dict[str, Any]]]:
        """The thread as raw camelCase JSON rows, in pages: for bulk readers (the export),
        where building 100,000 models would cost more than the whole export."""
        path = f"/api/agent-runs/{run_id}/messages"
        for response in self._pages("GET", path, params=query_params(limit=page_size)):
            try:
                page = response.json()
            except ValueError:
                page = None
            if not isinstance(page, list):
                raise ApiError(200, f"Unexpected answer listing the messages of run {run_id}.")
            if page:
                yield page

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
            params=query_params(since=since, limit=limit),
        )

    def project_logs(
        self, project_id: str, *, since: str | None = None, limit: int | None = None
    ) -> list[LogLine]:
        """A project's recent log lines across runs; ``since`` is an ISO timestamp."""
        return self._page(
            LogLine,
            "GET",
            f"/api/projects/{project_id}/logs",
            params=query_params(since=since, limit=limit),
        )
