"""The vocabulary under ``core.models``: limits, enums, time stamps, the base models.

Separate so ``core.models`` is only the entities (projects, features, runs,
messages, logs); everything here is re-exported there, so callers import from
``core.models`` as before.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    StringConstraints,
)
from pydantic.alias_generators import to_camel

#: Message content limit, after trimming. Long agent output belongs in the logs.
MAX_MESSAGE_CHARS = 32_000
#: Client-supplied message ids: short, URL- and header-safe.
CLIENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
#: Entity ids as they appear in paths (server ids are ``<prefix>_<32 hex>``).
ENTITY_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class FeatureStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    PASSING = "passing"
    FAILING = "failing"


class AgentStatus(StrEnum):
    IDLE = "idle"
    RUNNING = "running"
    STOPPED = "stopped"
    FAILED = "failed"


class AgentRunRole(StrEnum):
    ARCHITECT = "architect"
    CODER = "coder"
    REVIEWER = "reviewer"
    TESTER = "tester"


class AgentRunStatus(StrEnum):
    STARTED = "started"
    THINKING = "thinking"
    CODING = "coding"
    TESTING = "testing"
    REVIEWING = "reviewing"
    #: The agent asked the person a question (``ask_human``) and waits for the answer.
    WAITING = "waiting"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_RUN_STATUSES


TERMINAL_RUN_STATUSES = frozenset({AgentRunStatus.COMPLETED, AgentRunStatus.FAILED})


class MessageSender(StrEnum):
    USER = "user"
    AGENT = "agent"


class MessageType(StrEnum):
    MESSAGE = "message"
    STATUS = "status"
    ERROR = "error"
    #: An agent's question to the person (``ask_human``), with optional quick answers.
    QUESTION = "question"


class ReceiptState(StrEnum):
    """Where a user message is on its way to an agent; states only move forward.

    ``queued`` → ``sent`` (written to a live agent's input) → ``delivered`` (the
    agent confirmed it took the message, or a step started with it), or the end
    states ``not_delivered`` / ``withdrawn``.
    """

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    NOT_DELIVERED = "not_delivered"
    WITHDRAWN = "withdrawn"

    @property
    def rank(self) -> int:
        return RECEIPT_RANK[self]


#: Forward order of receipt states: a receipt is only ever replaced by a higher rank.
RECEIPT_RANK: dict[ReceiptState, int] = {
    ReceiptState.QUEUED: 0,
    ReceiptState.SENT: 1,
    ReceiptState.DELIVERED: 2,
    ReceiptState.NOT_DELIVERED: 3,
    ReceiptState.WITHDRAWN: 3,
}


class DeliveryChannel(StrEnum):
    """How a user message reached an agent."""

    #: Written to a live agent's input during its step (claude runner).
    LIVE = "live"
    #: Handed to the next step at its start (environment + CLAUDE.md).
    RELAY = "relay"
    #: The mid-step inbox file (demo and command runners).
    INBOX = "inbox"
    #: Read by the agent with the ``check_messages`` MCP tool.
    MCP = "mcp"


class DeliveryMode(StrEnum):
    """What the person asked for when sending (``mode`` on POST)."""

    #: Hand it to the running agent now (it lands at the agent's next tool boundary).
    STEER = "steer"
    #: Hold it for the next step.
    QUEUE = "queue"
    #: Stop the running turn first; the message starts the next turn at once.
    INTERRUPT = "interrupt"


class LogStream(StrEnum):
    STDOUT = "stdout"
    STDERR = "stderr"
    SYSTEM = "system"


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """Fixed-width ISO 8601 UTC with microseconds, so lexical order is time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class CamelModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        serialize_by_alias=True,
        use_enum_values=False,
    )


class InputModel(CamelModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        str_strip_whitespace=True,
    )


#: Unicode categories a single-line name may not hold: controls and line/paragraph separators.
_NOT_IN_A_NAME = frozenset({"Cc", "Zl", "Zp"})


def _one_line(value: str) -> str:
    """Why: names are pasted into agents' files (CLAUDE.md); a newline could end a fence."""
    if any(unicodedata.category(ch) in _NOT_IN_A_NAME for ch in value):
        raise ValueError(
            "A name is one line without control characters "
            "(no newlines, tabs or other invisible codes)"
        )
    return value


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_one_line),
]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4_000)]
EntityId = Annotated[str, StringConstraints(pattern=ENTITY_ID_PATTERN)]


class RunUsage(CamelModel):
    """What an agent reported its work cost (Claude Code's ``result`` events), summed."""

    turns: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    cost_usd: float = 0.0
    #: False when the agent reports tokens but no price (codex): ``cost_usd`` means nothing.
    priced: bool = True

    def plus(self, other: RunUsage) -> RunUsage:
        return RunUsage(
            turns=self.turns + other.turns,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_creation_tokens=self.cache_creation_tokens + other.cache_creation_tokens,
            cost_usd=round(self.cost_usd + other.cost_usd, 6),
            priced=self.priced and other.priced,
        )


# --- read markers and logs -----------------------------------------------------------


class ReadMarkerUpdate(InputModel):
    cursor: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class ReadMarker(CamelModel):
    run_id: str
    cursor: str | None


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
