"""Bearer-token authentication: the operator token and run-scoped agent tokens.

Agent tokens are stateless HMACs of the run id (``oma_agent.<runId>.<mac>``), so
any API process sharing the secret verifies them without a store read, and a
token is worth exactly one run. Comparisons are constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum

from fastapi import HTTPException, status

AGENT_TOKEN_PREFIX = "oma_agent"  # noqa: S105 - a public marker, not a secret
BEARER = "bearer"
_WWW_AUTHENTICATE = {"WWW-Authenticate": "Bearer"}


class PrincipalKind(StrEnum):
    OPERATOR = "operator"
    AGENT = "agent"


@dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    #: For agents: the only run the token may act on.
    run_id: str | None = None

    @property
    def is_agent(self) -> bool:
        return self.kind is PrincipalKind.AGENT

    @property
    def key(self) -> str:
        """One key per token: ``operator``, or ``agent:<runId>`` (for per-principal limits)."""
        return f"agent:{self.run_id}" if self.is_agent else self.kind.value


OPERATOR = Principal(PrincipalKind.OPERATOR)


def derive_agent_secret(api_token: str) -> bytes:
    return hmac.new(api_token.encode(), b"omakase agent tokens v1", hashlib.sha256).digest()


def _mac(secret: bytes, run_id: str) -> str:
    digest = hmac.new(secret, run_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def mint_agent_token(secret: bytes, run_id: str) -> str:
    return f"{AGENT_TOKEN_PREFIX}.{run_id}.{_mac(secret, run_id)}"


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers=_WWW_AUTHENTICATE)


def authenticate(authorization: str | None, *, api_token: str, agent_secret: bytes) -> Principal:
    """The principal a request's ``Authorization`` header proves, or 401."""
    if not authorization:
        raise unauthorized("Missing bearer token: send the header 'Authorization: Bearer <token>'.")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != BEARER or not token:
        raise unauthorized("The Authorization header must be 'Bearer <token>'.")
    if hmac.compare_digest(token.encode(), api_token.encode()):
        return OPERATOR
    prefix, _, rest = token.partition(".")
    run_id, _, mac = rest.rpartition(".")
    if (
        prefix == AGENT_TOKEN_PREFIX
        and run_id
        and mac
        and hmac.compare_digest(mac.encode(), _mac(agent_secret, run_id).encode())
    ):
        return Principal(PrincipalKind.AGENT, run_id=run_id)
    raise unauthorized("The bearer token is not valid for this service.")


def require_operator(principal: Principal) -> None:
    if principal.is_agent:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "This route needs the operator token; an agent token only acts on its own run.",
        )


def require_run_access(principal: Principal, run_id: str) -> None:
    """Operators act on every run; an agent only on the run its token was minted for."""
    if principal.is_agent and principal.run_id != run_id:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"This agent token belongs to run {principal.run_id}; it cannot act on run {run_id}.",
        )
