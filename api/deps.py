"""Route dependencies, declared once as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import Principal, authenticate, require_operator
from api.runtime import Runtime
from api.settings import Settings
from api.store.db import Db


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
