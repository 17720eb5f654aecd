"""Stream slots per principal: the operator token, and each agent token on its own.

Why: an agent token is held by untrusted code (whatever a model decides to
run). With only the process-wide cap (``settings.max_streams``) one agent
could open every slot and lock the dashboard out. Each agent token may hold
``max_agent_streams`` streams, the operator ``max_operator_streams``; past it
the route answers 429 with ``Retry-After``. Single-threaded (the event loop).
"""

from __future__ import annotations

from api.auth import Principal
from api.settings import Settings

#: What a client is told to wait when its own stream cap is reached.
PRINCIPAL_CAP_RETRY_AFTER_S = 5


class PrincipalStreamCapError(Exception):
    """This principal already holds as many streams as it may."""


class StreamQuota:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.open: dict[str, int] = {}

    def cap(self, principal: Principal) -> int:
        if principal.is_agent:
            return self.settings.max_agent_streams
        return self.settings.max_operator_streams

    def acquire(self, principal: Principal) -> str:
        """Count one more stream for the principal; its key (for ``release``), or 429's error."""
        key = principal.key
        cap = self.cap(principal)
        if self.open.get(key, 0) >= cap:
            who = "agent token" if principal.is_agent else "operator token"
            raise PrincipalStreamCapError(
                f"This {who} already holds {cap:,} open stream{'s' if cap != 1 else ''} "
                f"(the limit); close one or retry in {PRINCIPAL_CAP_RETRY_AFTER_S} seconds."
            )
        self.open[key] = self.open.get(key, 0) + 1
        return key

    def release(self, key: str) -> None:
        left = self.open.get(key, 0) - 1
        if left > 0:
            self.open[key] = left
        else:
            self.open.pop(key, None)
