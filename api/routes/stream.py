"""``GET /api/agent-runs/{runId}/messages/stream``: the thread as Server-Sent Events.

The route only validates and admits (404, 422, 429 at the principal's own
stream cap, 503 at the process's); what is
sent and when is the stream hub's job (``api.streaming.hub``) and how it looks
on the wire is ``api.streaming.wire``'s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, status
from sse_starlette import EventSourceResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from api.auth import Principal, require_run_access
from api.deps import HubDep, OperatorDep, PrincipalDep, RuntimeDep, unavailable
from api.routes.params import FeatureId, RunId
from api.runtime import Runtime
from api.store.features import get_feature
from api.store.runs import get_run
from api.streaming.feed import Subscription
from api.streaming.hub import (
    HUB_NOT_RUNNING,
    STREAM_CAP_RETRY_AFTER_S,
    HubNotRunningError,
    StreamCapReachedError,
    StreamHub,
)
from api.streaming.quota import PRINCIPAL_CAP_RETRY_AFTER_S, PrincipalStreamCapError
from api.streaming.wire import (
    InvalidResumeIdError,
    feature_resume_after,
    keep_alive,
    resume_after,
)

router = APIRouter(tags=["messages"])

#: Proxies (nginx) must not buffer the stream; caches must not keep it.
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
#: Seconds a client should wait when this process has no hub (misconfiguration).
NO_HUB_RETRY_AFTER_S = 30


@router.get(
    "/agent-runs/{runId}/messages/stream",
    summary="The thread as Server-Sent Events (resume with Last-Event-ID)",
    response_class=EventSourceResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "The event stream."},
        429: {"description": "This token holds its limit of open streams (see Retry-After)."},
        503: {"description": "Too many open streams on this server (see Retry-After)."},
    },
)
async def stream_run_messages(
    run_id: RunId,
    runtime: RuntimeDep,
    hub: HubDep,
    principal: PrincipalDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    last_event_id_query: Annotated[
        str | None,
        Query(
            alias="lastEventId",
            description="Resume after this cursor (for clients "
            "that cannot set the Last-Event-ID header).",
        ),
    ] = None,
) -> EventSourceResponse:
    require_run_access(principal, run_id)
    try:
        after = resume_after(header=last_event_id, query=last_event_id_query)
    except InvalidResumeIdError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    return await _open(
        runtime,
        hub,
        principal,
        lambda hub: hub.subscribe(run_id=run_id, after=after),
        lambda: get_run(runtime.db, run_id=run_id),
    )


@router.get(
    "/features/{featureId}/messages/stream",
    summary="The feature's whole conversation as Server-Sent Events (every run, resumable)",
    response_class=EventSourceResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "The event stream."},
        429: {"description": "This token holds its limit of open streams (see Retry-After)."},
        503: {"description": "Too many open streams on this server (see Retry-After)."},
    },
)
async def stream_feature_messages(
    feature_id: FeatureId,
    runtime: RuntimeDep,
    hub: HubDep,
    principal: OperatorDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    last_event_id_query: Annotated[
        str | None,
        Query(
            alias="lastEventId",
            description="Resume after this feature stream event id (for clients "
            "that cannot set the Last-Event-ID header).",
        ),
    ] = None,
) -> EventSourceResponse:
    try:
        after = feature_resume_after(header=last_event_id, query=last_event_id_query)
    except InvalidResumeIdError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    return await _open(
        runtime,
        hub,
        principal,
        lambda hub: hub.subscribe_feature(feature_id=feature_id, after=after),
        lambda: get_feature(runtime.db, feature_id=feature_id),
    )


async def _open(
    runtime: Runtime,
    hub: StreamHub | None,
    principal: Principal,
    subscribe: Callable[[StreamHub], Subscription],
    read_for_404: Callable[[], object],
) -> EventSourceResponse:
    """Admit a stream on this process's hub: 429 at the token's own cap, 503 without a
    hub or at the process's cap."""
    if hub is None:
        await run_in_threadpool(read_for_404)  # 404 first
        raise unavailable(HUB_NOT_RUNNING, retry_after_s=NO_HUB_RETRY_AFTER_S)
    try:
        holder = hub.quota.acquire(principal)
    except PrincipalStreamCapError as error:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            str(error),
            headers={"Retry-After": str(PRINCIPAL_CAP_RETRY_AFTER_S)},
        ) from None
    try:
        subscription = subscribe(hub)
    except StreamCapReachedError as error:
        hub.quota.release(holder)
        raise unavailable(str(error), retry_after_s=STREAM_CAP_RETRY_AFTER_S) from None
    except HubNotRunningError as error:
        hub.quota.release(holder)
        raise unavailable(str(error), retry_after_s=NO_HUB_RETRY_AFTER_S) from None
    subscription.on_release.append(lambda: hub.quota.release(holder))
    # 404 for an unknown run or feature comes from the feed's first read, shared by
    # every viewer of it: no store read per connection.
    await subscription.opened()
    return EventSourceResponse(
        subscription.events(),
        headers=STREAM_HEADERS,
        ping=runtime.settings.stream_ping_seconds,
        ping_message_factory=keep_alive,
        # A client that stops reading fills the socket; the send then times out, the
        # stream closes and its slots are released (the body's ``finally``).
        send_timeout=runtime.settings.stream_send_timeout_seconds,
        # Releases the stream slot even if the body never started (idempotent).
        background=BackgroundTask(subscription.release),
    )
