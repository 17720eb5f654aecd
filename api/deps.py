"""Route dependencies, declared once as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.agents.supervisor import AgentSupervisor, find_supervisor
from api.auth import Principal, authenticate, require_operator
from api.runtime import Runtime
from api.settings import Settings
from api.store.db import Db
from api.streaming.hub import StreamHub


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_db(runtime: RuntimeDep) -> Db:
    return runtime.db


def get_settings_dep(runtime: RuntimeDep) -> Settings:
    return runtime.settings


DbDep = Annotated[Db, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


def get_hub(runtime: RuntimeDep) -> StreamHub | None:
    """This process's stream hub; ``None`` where none runs (the route answers 503 with
    ``unavailable`` after its 404 check, so an unknown id is still a 404)."""
    return next((s for s in runtime.services if isinstance(s, StreamHub)), None)


def get_supervisor(runtime: RuntimeDep) -> AgentSupervisor | None:
    """This process's agent supervisor; ``None`` where it runs no pipelines."""
    return find_supervisor(runtime)


HubDep = Annotated[StreamHub | None, Depends(get_hub)]
SupervisorDep = Annotated[AgentSupervisor | None, Depends(get_supervisor)]


def unavailable(detail: str, *, retry_after_s: int | None = None) -> HTTPException:
    """The 503 a route raises when this process lacks a service or is at a cap."""
    headers = None if retry_after_s is None else {"Retry-After": str(retry_after_s)}
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail, headers=headers)


#: Declared for the OpenAPI docs' "Authorize" button; the header itself is read
#: raw below so a missing or malformed one gets our own sentence.
bearer_scheme = HTTPBearer(
    auto_error=False, description="The operator token, or a run-scoped agent token."
)


def get_principal(
    request: Request,
    runtime: RuntimeDep,
    _: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
) -> Principal:
    return authenticate(
        request.headers.get("authorization"),
        api_token=runtime.api_token,
        agent_secret=runtime.agent_secret,
    )


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_operator(principal: PrincipalDep) -> Principal:
    require_operator(principal)
    return principal


OperatorDep = Annotated[Principal, Depends(get_operator)]


def limit_message_rate(principal: PrincipalDep, runtime: RuntimeDep) -> Principal:
    """429 with ``Retry-After`` when this token posts faster than its rate."""
    limiter = runtime.agent_message_rate if principal.is_agent else runtime.operator_message_rate
    if limiter is None:
        return principal
    wait_s = limiter.wait_needed(principal.key)
    if wait_s > 0:
        who = "agent token" if principal.is_agent else "operator token"
        detail, retry_after = limiter.refusal(who, wait_s)
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS, detail, headers={"Retry-After": str(retry_after)}
        )
    return principal


#: The principal of a message POST, after its rate limit.
MessagePosterDep = Annotated[Principal, Depends(limit_message_rate)]
