"""What one API process holds while it runs: settings, the store, secrets, services.

Built by the app factory's lifespan and reached by routes through ``api.deps``.
Background services (stream hub, monitor loop, pipeline) implement ``Service``
and are started and stopped in order by the lifespan.
"""

from __future__ import annotations

import logging
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from api.auth import derive_agent_secret
from api.services.bus import MessageBus
from api.services.ratelimit import RateLimiter
from api.settings import Settings
from api.store.db import Db
from core.secret_file import fingerprint, write_secret_file

log = logging.getLogger(__name__)


class Service(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class InsecureBindError(RuntimeError):
    pass


@dataclass
class Runtime:
    settings: Settings
    db: Db
    api_token: str
    agent_secret: bytes
    #: Wakes this process's streams when it commits a message.
    bus: MessageBus = field(default_factory=MessageBus)
    #: Started in order at start-up, stopped in reverse order at shutdown.
    services: list[Service] = field(default_factory=list)
    #: Message rate limits per principal kind (``api.services.ratelimit``); None = unlimited.
    agent_message_rate: RateLimiter | None = None
    operator_message_rate: RateLimiter | None = None

    def __post_init__(self) -> None:
        s = self.settings
        self.agent_message_rate = RateLimiter(
            capacity=s.agent_message_burst, per_minute=s.agent_messages_per_minute
        )
        if s.operator_messages_per_minute > 0:
            self.operator_message_rate = RateLimiter(
                capacity=s.operator_message_burst, per_minute=s.operator_messages_per_minute
            )


#: Name of the file a generated token is written to (in a fresh private folder).
GENERATED_FILE_NAME = "api-token"


def keep_generated_token(token: str) -> Path:
    """Write a generated token where only its owner can read it: a fresh 0700 folder, 0600 file."""
    path = Path(tempfile.mkdtemp(prefix="omakase-api-")) / GENERATED_FILE_NAME
    write_secret_file(path, token + "\n")
    return path


def resolve_api_token(settings: Settings) -> str:
    """The operator token: configured, or generated on loopback (refused elsewhere).

    A generated token never reaches a log or the terminal in full: the log names
    it by its fingerprint and says which file (mode 0600) holds it.
    """
    if settings.api_token is not None and settings.api_token.get_secret_value():
        return settings.api_token.get_secret_value()
    if not settings.is_loopback:
        raise InsecureBindError(
            f"Refusing to listen on {settings.api_host} without a token: set OMAKASE_API_TOKEN "
            "(only a loopback address may run with a generated one)."
        )
    token = secrets.token_urlsafe(32)
    path = keep_generated_token(token)
    log.warning(
        "OMAKASE_API_TOKEN is not set; generated a token for this run (%s), in %s (mode 0600): "
        "export OMAKASE_API_TOKEN=$(cat %s)",
        fingerprint(token),
        path,
        path,
    )
    return token


def build_runtime(settings: Settings, db: Db) -> Runtime:
    api_token = resolve_api_token(settings)
    configured = settings.agent_token_secret
    agent_secret = (
        configured.get_secret_value().encode()
        if configured is not None and configured.get_secret_value()
        else derive_agent_secret(api_token)
    )
    return Runtime(settings=settings, db=db, api_token=api_token, agent_secret=agent_secret)
