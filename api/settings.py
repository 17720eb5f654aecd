"""One settings object, read from ``OMAKASE_*`` environment variables.

Why the token rules: every ``/api`` route needs a bearer token. On a loopback
address a missing token is generated at start-up (and logged), so a bare
``python -m api`` is still closed to other local users' guesses; bound to any
other address the service refuses to start without an explicit token.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Longest a boto3 call may wait to connect / read before it counts as a fault.
DYNAMODB_CONNECT_TIMEOUT_S = 2.0
DYNAMODB_READ_TIMEOUT_S = 5.0
#: botocore ``standard`` retry mode: total attempts per call (1 try + 2 retries).
DYNAMODB_MAX_ATTEMPTS = 3


class RunnerKind(StrEnum):
    DEMO = "demo"
    COMMAND = "command"
    #: Claude Code kept open for the whole step (streaming JSON): live steering.
    CLAUDE = "claude"
    #: ``codex app-server`` kept open for the whole step (JSON-RPC): live steering.
    CODEX = "codex"


class SandboxMode(StrEnum):
    """How a step's process is isolated (``api.agents.sandbox``)."""

    #: bubblewrap where it works here, else none with a logged warning.
    AUTO = "auto"
    #: bubblewrap required: a step fails with a clear error where it cannot run.
    BWRAP = "bwrap"
    #: No isolation: the agent runs as the API's own user with its view of the machine.
    NONE = "none"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OMAKASE_", extra="ignore")

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8765, ge=1, le=65535)
    api_token: SecretStr | None = None
    #: Secret for run-scoped agent tokens; derived from the API token when unset.
    agent_token_secret: SecretStr | None = None
    #: Base URL the dashboard, clients and agent processes use to reach the API.
    api_url: str | None = None
    #: This very process's address for the other API processes (the wake-up of a live
    #: step's owner, ``api.services.wake``); default ``http://<api_host>:<api_port>``
    #: (127.0.0.1 when bound to every interface). Never a load balancer's address.
    internal_url: str | None = None

    #: Unset = AWS (credentials and region from the usual boto3 chain).
    dynamodb_endpoint: str | None = None
    #: OMAKASE_AWS_REGION, else the usual AWS_REGION / AWS_DEFAULT_REGION.
    aws_region: str = Field(
        default="us-east-1",
        validation_alias=AliasChoices("OMAKASE_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
    )
    table_prefix: str = "omakase-"

    runner: RunnerKind = RunnerKind.DEMO
    #: ``command`` runner: the agent command line (shell words).
    agent_command: str | None = None
    demo_step_seconds: float = Field(default=20.0, ge=0.0)
    #: ``claude`` runner: the CLI to run (default: the pinned one in
    #: infra/claude_code, else ``claude`` on PATH) and extra arguments (shell words).
    claude_bin: str | None = None
    claude_args: str = ""
    #: ``codex`` runner: the CLI to run (default: the pinned one in infra/codex, else
    #: ``codex`` on PATH) and extra arguments (shell words: ``-c model_provider=…``).
    codex_bin: str | None = None
    codex_args: str = ""
    #: ``ask_human``: how long an agent waits for the person's answer.
    ask_timeout_seconds: float = Field(default=900.0, gt=0.0)
    #: One folder per feature; outside ``.data/`` so a sandboxed agent never
    #: needs to see the engine's data or the token file next to it.
    workspace_root: Path = Path(".workspaces")
    #: Step isolation (docs/AGENTS.md "Sandbox"); the bubblewrap binary to use.
    agent_sandbox: SandboxMode = SandboxMode.AUTO
    bwrap_bin: str = "bwrap"
    #: More paths hidden from sandboxed agents (files or folders), besides ``.data/``.
    sandbox_hide: list[Path] = Field(default_factory=list)

    #: The git CLI (clone, fetch, push, merge in the user's work tree; api/git/cli.py).
    git_bin: str = "git"
    #: Longest a git command that talks to a remote (clone, fetch, push) may take.
    git_timeout_seconds: float = Field(default=120.0, gt=0.0)
    #: Longest the reachability check of a git URL on project create may take.
    git_check_timeout_seconds: float = Field(default=15.0, gt=0.0)
    #: A diff answer past this many bytes lists its files and says the patch is too
    #: large to show (the whole patch stays downloadable with ``?download=1``).
    diff_max_bytes: int = Field(default=1_000_000, ge=1_000)

    #: Monitor loop period (process status, new user messages, inbox).
    monitor_interval_seconds: float = Field(default=5.0, gt=0.0)
    #: Stream hub poll period for writes made by other API processes.
    stream_poll_seconds: float = Field(default=1.0, gt=0.0)
    #: Concurrent SSE streams per process before 503 + Retry-After.
    max_streams: int = Field(default=4_000, ge=1)
    #: Messages one agent token may post per minute, and in one burst (429 past it).
    agent_messages_per_minute: float = Field(default=60.0, gt=0.0)
    agent_message_burst: int = Field(default=20, ge=1)
    #: The operator's message rate per minute (0: unlimited, the default) and burst.
    operator_messages_per_minute: float = Field(default=0.0, ge=0.0)
    operator_message_burst: int = Field(default=100, ge=1)
    #: Concurrent SSE streams one agent token may hold (an agent is untrusted code).
    max_agent_streams: int = Field(default=4, ge=1)
    #: Concurrent SSE streams the operator token may hold (every dashboard viewer).
    max_operator_streams: int = Field(default=4_000, ge=1)
    #: A stream whose client takes longer than this to accept one send is closed
    #: (a client that never reads cannot hold a slot).
    stream_send_timeout_seconds: float = Field(default=30.0, gt=0.0)
    #: Seconds between SSE keep-alive comments (short in tests, so they are quick).
    stream_ping_seconds: float = Field(default=15.0, gt=0.0)
    #: ``gc.freeze()`` once start-up is done: fewer, shorter full collections with
    #: thousands of open streams (see shared/design/PERFORMANCE.md, docs/BENCHMARKS.md).
    gc_freeze: bool = True
    #: Start pending features automatically (feature watcher).
    auto_start_features: bool = True

    @field_validator("dynamodb_endpoint", mode="before")
    @classmethod
    def _blank_endpoint_means_aws(cls, value: object) -> object:
        # OMAKASE_DYNAMODB_ENDPOINT="" must mean "AWS", not a local engine at "".
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def is_local_store(self) -> bool:
        return self.dynamodb_endpoint is not None

    @property
    def is_loopback(self) -> bool:
        host = self.api_host.strip("[]")
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    @property
    def wake_address(self) -> str:
        host = self.api_host.strip("[]")
        every_interface = host in ("0.0.0.0", "::", "")  # noqa: S104 - recognising it, not binding
        host = "127.0.0.1" if every_interface else self.api_host
        return (self.internal_url or f"http://{host}:{self.api_port}").rstrip("/")

    @property
    def base_url(self) -> str:
        return self.api_url or f"http://{self.api_host}:{self.api_port}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
