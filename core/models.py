"""Pydantic models shared by the API, the dashboard and programmatic clients.

JSON is camelCase on the wire (as in the original TypeScript feature); Python
code uses snake_case attribute names. Every model accepts either spelling on
input (``populate_by_name``) so store rows and API payloads load alike.

Input models (``*Create``, ``*Update``) forbid unknown fields: a typo in a
client's payload is a 422 with a sentence, never a silently ignored field.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    Field,
    StringConstraints,
    field_validator,
)

from core.model_types import (
    CLIENT_ID_PATTERN,
    ENTITY_ID_PATTERN,
    MAX_MESSAGE_CHARS,
    RECEIPT_RANK,
    TERMINAL_RUN_STATUSES,
    AgentRunRole,
    AgentRunStatus,
    AgentStatus,
    CamelModel,
    DeliveryChannel,
    DeliveryMode,
    Description,
    EntityId,
    FeatureStatus,
    InputModel,
    LogStream,
    MessageSender,
    MessageType,
    Name,
    ReceiptState,
    RunUsage,
    iso,
    utc_now,
)
from core.repo_models import BranchName, RepositoryText, RunChanges

__all__ = [
    "CLIENT_ID_PATTERN",
    "ENTITY_ID_PATTERN",
    "MAX_MESSAGE_CHARS",
    "RECEIPT_RANK",
    "RESERVED_ID_PREFIXES",
    "TERMINAL_RUN_STATUSES",
    "Agent",
    "AgentMessage",
    "AgentRun",
    "AgentRunCreate",
    "AgentRunRole",
    "AgentRunStatus",
    "AgentStatus",
    "CamelModel",
    "DeliveryChannel",
    "DeliveryMode",
    "DeliveryReceipt",
    "Description",
    "EntityId",
    "Feature",
    "FeatureCreate",
    "FeatureStatus",
    "InputModel",
    "LogLine",
    "LogStream",
    "MessageCreate",
    "MessageSender",
    "MessageType",
    "Name",
    "Project",
    "ProjectCreate",
    "ReadMarker",
    "ReadMarkerUpdate",
    "ReceiptState",
    "RunStatusUpdate",
    "RunUsage",
    "iso",
    "utc_now",
]


# --- projects, features, agents -------------------------------------------------


class ProjectCreate(InputModel):
    name: Name
    description: Description = ""
    max_concurrency: int = Field(default=2, ge=1, le=16)
    #: A local git work tree (absolute path) or a git URL; none: a new repository per feature.
    repository: RepositoryText | None = None
    #: Default: the repository's default branch.
    base_branch: BranchName | None = None


class Project(CamelModel):
    id: str
    name: str
    description: str = ""
    max_concurrency: int = 2
    created_at: str
    repository: str | None = None
    base_branch: str | None = None


class FeatureCreate(InputModel):
    name: Name
    description: Description = ""
    priority: int = Field(default=100, ge=0, le=10_000)
    dependencies: list[EntityId] = Field(default_factory=list, max_length=50)


class Feature(CamelModel):
    id: str
    project_id: str
    name: str
    description: str = ""
    status: FeatureStatus = FeatureStatus.PENDING
    priority: int = 100
    dependencies: list[str] = Field(default_factory=list)
    created_at: str
    updated_at: str
    #: The pipeline step now running (1-based), or the last one that ran.
    current_step: int = 0
    current_run_id: str | None = None
    error_message: str | None = None
    #: ``omakase/<slug>-<short id>``, set when its workspace is first made.
    branch: str | None = None
    base_commit: str | None = None
    head_commit: str | None = None
    merged_at: str | None = None
    merged_commit: str | None = None


class Agent(CamelModel):
    project_id: str
    role: AgentRunRole
    name: str
    mascot: str
    status: AgentStatus = AgentStatus.IDLE
    current_run_id: str | None = None
    current_feature_id: str | None = None
    #: The agent's most recent run (kept after it ends, for the log viewer).
    last_run_id: str | None = None
    #: Messages from the agent (and notices) after the read marker of its
    #: current or last run. Computed when the agents are listed.
    unread_count: int = 0
    updated_at: str


# --- agent runs ---------------------------------------------------------------------


class AgentRun(CamelModel):
    id: str
    project_id: str
    feature_id: str
    role: AgentRunRole
    status: AgentRunStatus = AgentRunStatus.STARTED
    #: 1-based position of this run in its feature's pipeline.
    step: int = 1
    #: 1 for the first try of a step, 2 for its retry.
    attempt: int = 1
    output_summary: str | None = None
    error_message: str | None = None
    started_at: str
    completed_at: str | None = None
    updated_at: str
    #: Last message cursor the user has seen (read marker, for unread counts).
    read_cursor: str | None = None
    #: True while the step runs under a live runner (claude): ``steer`` and
    #: ``interrupt`` reach the agent during the step.
    live: bool = False
    #: What the agent reported its step cost (summed over its turns).
    usage: RunUsage | None = None
    #: The agent's question waiting for the person's answer (``ask_human``), if any.
    open_question_id: str | None = None
    #: When the open question was asked (the run has been ``waiting`` since).
    waiting_since: str | None = None
    #: Seconds spent waiting for answers, summed over closed questions (elapsed
    #: time shown to the person excludes it).
    waiting_seconds: float = 0.0
    #: The last message ``check_messages`` returned (its inbox-channel position).
    mcp_cursor: str | None = None
    #: What the step changed on the feature's branch (None: no change, or not yet committed).
    changes: RunChanges | None = None

    @property
    def is_active(self) -> bool:
        return not self.status.is_terminal


class AgentRunCreate(InputModel):
    """Internal: what the pipeline supplies to start a run."""

    project_id: str
    feature_id: str
    role: AgentRunRole
    step: int = Field(default=1, ge=1)
    attempt: int = Field(default=1, ge=1)
    #: The step runs under a live runner (claude): messages reach it mid-turn.
    live: bool = False


class RunStatusUpdate(InputModel):
    """``PATCH /api/agent-runs/{runId}``: a phase report."""

    status: AgentRunStatus
    output_summary: Annotated[str, StringConstraints(max_length=4_000)] | None = None
    error_message: Annotated[str, StringConstraints(max_length=4_000)] | None = None

    @field_validator("status")
    @classmethod
    def _not_waiting(cls, value: AgentRunStatus) -> AgentRunStatus:
        # ``waiting`` goes with an open question (one conditional write sets both); a
        # bare report would leave the run waiting for an answer nobody can give.
        if value is AgentRunStatus.WAITING:
            raise ValueError(
                "'waiting' is not reported: the run waits while its agent's question is "
                "open (POST /api/agent-runs/{runId}/questions)"
            )
        return value


# --- messages -----------------------------------------------------------------------


class DeliveryReceipt(CamelModel):
    """Where a user message went: the proof, shown in the chat, that the agent got it."""

    state: ReceiptState = ReceiptState.QUEUED
    delivered_at: str | None = None
    #: The run (and its role and pipeline step) that received the message.
    run_id: str | None = None
    role: AgentRunRole | None = None
    step: int | None = None
    #: How it got there: ``live``, ``relay``, ``inbox`` or ``mcp`` (``DeliveryChannel``).
    channel: str | None = None
    reason: str | None = None
    #: When the message was written to a live agent's input (state ``sent``).
    sent_at: str | None = None
    #: The commit of the step that took the message (once that step committed).
    commit: str | None = None


#: Message id prefixes the service mints (delivery notices, status notices, live
#: output, questions): a client id with one could take the id of a notice to come.
RESERVED_ID_PREFIXES: tuple[str, ...] = (
    "rcpt-",
    "nodl-",
    "notice-",
    "live-",
    "ask-",
    "cmt-",
    "commit-",
    "push-",
)


class MessageCreate(InputModel):
    """``POST /api/agent-runs/{runId}/messages``."""

    content: str
    #: Client message id: a retry with the same id stores one message.
    id: Annotated[str, StringConstraints(pattern=CLIENT_ID_PATTERN)] | None = None
    #: ``steer`` (default while a live step runs), ``queue`` (default otherwise) or
    #: ``interrupt``. Only for user messages.
    mode: DeliveryMode | None = None

    @field_validator("id")
    @classmethod
    def _id_not_reserved(cls, value: str | None) -> str | None:
        if value is not None and value.startswith(RESERVED_ID_PREFIXES):
            listed = ", ".join(f"'{p}'" for p in RESERVED_ID_PREFIXES[:-1])
            raise ValueError(
                f"Message ids starting with {listed} or '{RESERVED_ID_PREFIXES[-1]}' "
                "are reserved for the service"
            )
        return value

    @field_validator("content")
    @classmethod
    def _content_in_bounds(cls, value: str) -> str:
        # str_strip_whitespace already trimmed it.
        if not value:
            raise ValueError("Message content must not be empty or only whitespace")
        if len(value) > MAX_MESSAGE_CHARS:
            raise ValueError(
                f"Message content is {len(value):,} characters; the limit is "
                f"{MAX_MESSAGE_CHARS:,} (put long output in the logs)"
            )
        return value


class AgentMessage(CamelModel):
    id: str
    run_id: str
    feature_id: str
    project_id: str
    sender: MessageSender
    role: AgentRunRole | None = None
    content: str
    type: MessageType = MessageType.MESSAGE
    timestamp: str
    #: Position in the run's thread: the SSE event id and the ``since`` cursor.
    cursor: str
    #: User messages: where the message was delivered (None for agent/status).
    receipt: DeliveryReceipt | None = None
    #: Delivery notices: the id of the user message this notice is a receipt for.
    receipt_for: str | None = None
    #: User messages: the delivery mode the person chose (``steer``/``queue``/``interrupt``).
    mode: DeliveryMode | None = None
    #: Questions (``type: question``): quick answers offered to the person.
    options: list[str] | None = None
    #: User messages: the question (its message id) this message answers.
    reply_to: str | None = None


class ReadMarkerUpdate(InputModel):
    cursor: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class ReadMarker(CamelModel):
    run_id: str
    cursor: str | None


# --- logs ---------------------------------------------------------------------------


class LogLine(CamelModel):
    run_id: str
    project_id: str
    feature_id: str
    role: AgentRunRole
    agent_name: str
    cursor: str
    timestamp: str
    stream: LogStream = LogStream.STDOUT
    line: str
