"""A small in-memory stand-in for ``core.client.ApiClient``, for AppTest page-logic tests.

It implements only what the pages call, with the API's semantics (cursors,
``since``, idempotent client ids, read markers, unread counts, Contract v2's
feature POST with modes and withdrawal), and can be told to fail like the real
client does (``ApiError`` / ``ApiUnavailable``). ``open_feature_chat`` returns
a ``FakeFeatureChat`` (fake_chat.py): the real ``Conversation`` state fed synchronously from
``feed`` (every stored message and update, in order: the feature stream). The
real client against the real API is what the browser tests use.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.agents import PIPELINE_ROLES, persona
from core.client import ApiError
from core.cursor import format_cursor
from core.models import (
    Agent,
    AgentMessage,
    AgentRun,
    AgentRunRole,
    AgentRunStatus,
    AgentStatus,
    DeliveryMode,
    DeliveryReceipt,
    Feature,
    FeatureStatus,
    LogLine,
    MessageSender,
    MessageType,
    Project,
    ReadMarker,
    ReceiptState,
    RunUsage,
)
from tests.support.fake_repo import FakeRepoRoutes, FakeRepoState

if TYPE_CHECKING:
    from tests.support.fake_chat import FakeFeatureChat

NOW = "2026-11-24T05:00:00.000000Z"


@dataclass
class FakeApi(FakeRepoRoutes):
    base_url: str = "http://fake"
    token: str = "fake"
    page_size: int | None = None
    project: Project = field(
        default_factory=lambda: Project(id="prj_1", name="Ramen shop", created_at=NOW)
    )
    feature: Feature = field(
        default_factory=lambda: Feature(
            id="ftr_1",
            project_id="prj_1",
            name="Tonkotsu broth",
            status=FeatureStatus.IN_PROGRESS,
            current_step=2,
            created_at=NOW,
            updated_at=NOW,
        )
    )
    runs: dict[str, AgentRun] = field(default_factory=dict)
    messages: dict[str, list[AgentMessage]] = field(default_factory=dict)
    markers: dict[str, str] = field(default_factory=dict)
    #: Raise this from every call (simulates an unreachable API or a bad token).
    failure: ApiError | None = None
    #: Raise this from ``post_message`` only (a refused send).
    refuse_post: ApiError | None = None
    posts: list[str] = field(default_factory=list)
    #: Every stored message and every update of one, in order (the feature stream).
    feed: list[AgentMessage] = field(default_factory=list)
    #: ``(content, mode)`` of every feature POST.
    feature_posts: list[tuple[str, DeliveryMode | None]] = field(default_factory=list)
    withdrawals: list[str] = field(default_factory=list)
    #: The repository routes' scenario (fake_repo.py).
    repo: FakeRepoState = field(default_factory=FakeRepoState)

    # --- scenario helpers -----------------------------------------------------------

    def add_run(
        self,
        role: AgentRunRole = AgentRunRole.CODER,
        status: AgentRunStatus = AgentRunStatus.CODING,
        step: int = 2,
        *,
        live: bool = False,
        usage: RunUsage | None = None,
        waiting_seconds: float = 0.0,
    ) -> AgentRun:
        run = AgentRun(
            id=f"run_{len(self.runs) + 1}",
            project_id=self.project.id,
            feature_id=self.feature.id,
            role=role,
            status=status,
            step=step,
            started_at=NOW,
            updated_at=NOW,
            completed_at=None if status.is_terminal is False else NOW,
            live=live,
            usage=usage,
            waiting_seconds=waiting_seconds,
        )
        self.runs[run.id] = run
        self.messages[run.id] = []
        self.feature = self.feature.model_copy(
            update={"current_run_id": run.id, "current_step": step}
        )
        return run

    def set_status(self, run_id: str, status: AgentRunStatus) -> AgentRun:
        run = self.runs[run_id].model_copy(update={"status": status})
        self.runs[run_id] = run
        return run

    def set_receipt(self, message_id: str, receipt: DeliveryReceipt) -> AgentMessage:
        """A receipt moved (the stream re-sends the message with it)."""
        for thread in self.messages.values():
            for at, message in enumerate(thread):
                if message.id == message_id:
                    thread[at] = message.model_copy(update={"receipt": receipt})
                    self.feed.append(thread[at])
                    return thread[at]
        raise KeyError(message_id)

    def end_feature(self, status: FeatureStatus = FeatureStatus.PASSING) -> None:
        for run_id, run in self.runs.items():
            if run.is_active:
                self.set_status(run_id, AgentRunStatus.COMPLETED)
        self.feature = self.feature.model_copy(update={"status": status})

    def add_message(
        self,
        run_id: str,
        content: str,
        *,
        sender: MessageSender = MessageSender.AGENT,
        type: MessageType = MessageType.MESSAGE,
        receipt: DeliveryReceipt | None = None,
        message_id: str | None = None,
        options: list[str] | None = None,
        mode: DeliveryMode | None = None,
        receipt_for: str | None = None,
    ) -> AgentMessage:
        thread = self.messages[run_id]
        run = self.runs[run_id]
        message = AgentMessage(
            id=message_id or f"msg_{run_id}_{len(thread) + 1}",
            run_id=run_id,
            feature_id=run.feature_id,
            project_id=run.project_id,
            sender=sender,
            role=run.role if sender is MessageSender.AGENT else None,
            content=content,
            type=type,
            timestamp=f"2026-11-24T05:{len(thread) // 60:02d}:{len(thread) % 60:02d}.000000Z",
            cursor=format_cursor(len(thread) + 1),
            receipt=receipt
            if receipt or sender is not MessageSender.USER
            else DeliveryReceipt(state=ReceiptState.QUEUED),
            options=options,
            mode=mode,
            receipt_for=receipt_for,
        )
        thread.append(message)
        self.feed.append(message)
        return message

    def _check(self) -> None:
        if self.failure is not None:
            raise self.failure

    # --- the ApiClient surface the pages use ------------------------------------------

    def list_projects(self) -> list[Project]:
        self._check()
        return [self.project]

    def get_project(self, project_id: str) -> Project:
        self._check()
        return self.project

    def list_features(self, project_id: str) -> list[Feature]:
        self._check()
        return [self.feature]

    def get_feature(self, feature_id: str) -> Feature:
        self._check()
        return self.feature

    def list_agents(self, project_id: str) -> list[Agent]:
        self._check()
        agents = []
        for role in PIPELINE_ROLES:
            active = [r for r in self.runs.values() if r.role is role]
            run = active[-1] if active else None
            running = run is not None and run.is_active
            unread = 0
            if run is not None:
                marker = self.markers.get(run.id, "")
                unread = sum(
                    1
                    for m in self.messages[run.id]
                    if m.sender is not MessageSender.USER and m.cursor > marker
                )
            agents.append(
                Agent(
                    project_id=self.project.id,
                    role=role,
                    name=persona(role).name,
                    mascot=persona(role).mascot,
                    status=AgentStatus.RUNNING if running else AgentStatus.IDLE,
                    current_run_id=run.id if running and run else None,
                    current_feature_id=self.feature.id if running else None,
                    last_run_id=run.id if run else None,
                    unread_count=unread,
                    waiting=running and run is not None and run.status is AgentRunStatus.WAITING,
                    updated_at=NOW,
                )
            )
        return agents

    def list_runs(self, project_id: str) -> list[AgentRun]:
        self._check()
        return list(reversed(self.runs.values()))

    def get_run(self, run_id: str) -> AgentRun:
        self._check()
        if run_id not in self.runs:
            raise ApiError(404, f"Agent run {run_id} does not exist.")
        return self.runs[run_id]

    def list_messages(
        self,
        run_id: str,
        *,
        since: str | None = None,
        sender: MessageSender | str | None = None,
        limit: int | None = None,
    ) -> list[AgentMessage]:
        self._check()
        found = [
            m
            for m in self.messages[run_id]
            if (since is None or m.cursor > since)
            and (sender is None or m.sender.value == str(getattr(sender, "value", sender)))
        ]
        return found[:limit] if limit is not None else found

    def iter_messages(self, run_id: str, *, page_size: int = 1_000) -> Iterator[list[AgentMessage]]:
        thread = self.list_messages(run_id)
        for start in range(0, len(thread), page_size):
            yield thread[start : start + page_size]

    def iter_message_rows(
        self, run_id: str, *, page_size: int = 1_000
    ) -> Iterator[list[dict[str, Any]]]:
        for page in self.iter_messages(run_id, page_size=page_size):
            yield [m.model_dump(by_alias=True, mode="json") for m in page]

    def post_message(
        self, run_id: str, content: str, *, message_id: str | None = None
    ) -> AgentMessage:
        self._check()
        if self.refuse_post is not None:
            raise self.refuse_post
        self.posts.append(content)
        for existing in self.messages[run_id]:
            if existing.id == message_id:
                return existing
        return self.add_message(run_id, content, sender=MessageSender.USER, message_id=message_id)

    def post_feature_message(
        self,
        feature_id: str,
        content: str,
        *,
        message_id: str | None = None,
        mode: DeliveryMode | None = None,
    ) -> AgentMessage:
        self._check()
        if self.refuse_post is not None:
            raise self.refuse_post
        active = [r for r in self.runs.values() if r.is_active]
        if not active and self.feature.status in (FeatureStatus.PASSING, FeatureStatus.FAILING):
            raise ApiError(409, f"Feature {self.feature.name} has ended.")
        target = active[-1] if active else list(self.runs.values())[-1]
        self.feature_posts.append((content, mode))
        self.posts.append(content)
        for existing in self.messages[target.id]:
            if existing.id == message_id:
                return existing
        return self.add_message(
            target.id, content, sender=MessageSender.USER, message_id=message_id, mode=mode
        )

    def withdraw_message(self, run_id: str, message_id: str) -> None:
        self._check()
        for message in self.messages.get(run_id, []):
            if message.id == message_id:
                if message.receipt is not None and message.receipt.state is not ReceiptState.QUEUED:
                    raise ApiError(409, "The message was already sent or delivered.")
                self.withdrawals.append(message_id)
                self.set_receipt(message_id, DeliveryReceipt(state=ReceiptState.WITHDRAWN))
                return
        raise ApiError(404, f"Message {message_id} does not exist.")

    def open_feature_chat(self, feature_id: str) -> FakeFeatureChat:
        from tests.support.fake_chat import FakeFeatureChat  # it reads this fake

        return FakeFeatureChat(self, feature_id)

    def mark_read(self, run_id: str, cursor: str) -> ReadMarker:
        self._check()
        self.markers[run_id] = max(cursor, self.markers.get(run_id, ""))
        return ReadMarker(run_id=run_id, cursor=self.markers[run_id])

    def project_logs(
        self, project_id: str, *, since: str | None = None, limit: int | None = None
    ) -> list[LogLine]:
        self._check()
        return []
