"""Chat messages: post to a run's thread, read it, read a feature's, move the read marker.

Who is the sender is decided by the token, never by the payload: the operator
token posts ``sender: "user"`` (with a ``queued`` delivery receipt the pipeline
later fills in); the agent token of the run posts ``sender: "agent"`` with the
run's role. A client message id makes a POST idempotent: the first store
answers 201, a retry answers 200 with the same message, and the same id with
different content is a 409 (it would otherwise silently lose the new text).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import (
    APIRouter,
    BackgroundTasks,
    HTTPException,
    Query,
    Request,
    Response,
    status,
)

from api.agents.hops import hop
from api.auth import Principal, require_run_access
from api.deps import DbDep, MessagePosterDep, OperatorDep, PrincipalDep, RuntimeDep
from api.routes.paging import page_after, trim_page
from api.routes.params import FeatureId, RunId
from api.runtime import Runtime
from api.services.messages import post_message
from api.services.receipts import receipt_for
from api.services.wake import needs_wake, wake_owner
from api.store.features import get_feature
from api.store.messages import find_message, list_messages, list_messages_by_feature
from api.store.runs import get_run, set_read_cursor
from core.cursor import CURSOR_DIGITS, is_cursor, normalize_timestamp
from core.models import (
    AgentMessage,
    AgentRun,
    DeliveryChannel,
    DeliveryMode,
    DeliveryReceipt,
    MessageCreate,
    MessageSender,
    ReadMarker,
    ReadMarkerUpdate,
    ReceiptState,
)

router = APIRouter(tags=["messages"])

#: Largest page ``GET …/messages`` returns (without ``limit``: the whole thread up to
#: this; past it ``X-Next-Cursor`` / ``Link`` say where the next page starts).
MAX_PAGE_MESSAGES = 10_000


def ended_detail(run: AgentRun) -> str:
    return f"Agent run {run.id} is no longer active ({run.status.value})."


def _same_message(existing: AgentMessage, *, sender: MessageSender, content: str) -> bool:
    return existing.sender is sender and existing.content == content


def _reused_id_detail(message_id: str) -> str:
    return (
        f"Message id {message_id} is already used by a different message in this run; "
        "send new content with a new id."
    )


def _replay(
    existing: AgentMessage, *, sender: MessageSender, content: str, response: Response
) -> AgentMessage:
    """A retry of a POST that was stored: 200 and the stored message, or 409 if it differs."""
    if not _same_message(existing, sender=sender, content=content):
        raise HTTPException(status.HTTP_409_CONFLICT, _reused_id_detail(existing.id))
    response.status_code = status.HTTP_200_OK
    return existing


@router.post(
    "/agent-runs/{runId}/messages",
    status_code=status.HTTP_201_CREATED,
    summary="Post a message to a run's thread (user, or agent with its run token)",
    responses={
        200: {"description": "A retry with a known client id: the stored message."},
        409: {"description": "The run has ended, or the client id is used by other content."},
        429: {"description": "This token posts faster than its rate (see Retry-After)."},
    },
)
def post_run_message(
    run_id: RunId,
    body: MessageCreate,
    runtime: RuntimeDep,
    principal: MessagePosterDep,
    response: Response,
    background: BackgroundTasks,
) -> AgentMessage:
    hop("post_in", body.id or "")
    require_run_access(principal, run_id)
    run = get_run(runtime.db, run_id=run_id)
    message = post_user_message(runtime, run, body, principal, response, allow_ended=False)
    if needs_wake(message, run, runtime.bus):  # after the 201: its live step runs elsewhere
        background.add_task(
            wake_owner, runtime.db, run=run, message=message, api_token=runtime.api_token
        )
    return message


def post_user_message(
    runtime: Runtime,
    run: AgentRun,
    body: MessageCreate,
    principal: Principal,
    response: Response,
    *,
    allow_ended: bool,
) -> AgentMessage:
    """Store ``body`` in ``run``'s thread: the ONE place a posted message is admitted.

    Shared by the run POST and the feature POST (``allow_ended``: the feature route
    holds a message for the next step in its last, ended, run's thread). Where a
    message goes by ``mode`` is decided here, so live steering extends this function.
    """
    db = runtime.db
    sender = MessageSender.AGENT if principal.is_agent else MessageSender.USER
    if not run.is_active and not allow_ended:
        # A retry whose first attempt landed before the run ended still gets its message.
        if body.id is not None:
            existing = find_message(db, run_id=run.id, message_id=body.id)
            if existing is not None:
                return _replay(existing, sender=sender, content=body.content, response=response)
        raise HTTPException(status.HTTP_409_CONFLICT, ended_detail(run))
    try:
        mode = _delivery_mode(run, body.mode) if sender is MessageSender.USER else None
    except HTTPException:
        # A retry of a message stored while its mode was possible still gets it back.
        existing = find_message(db, run_id=run.id, message_id=body.id) if body.id else None
        if existing is None:
            raise
        return _replay(existing, sender=sender, content=body.content, response=response)
    # While the agent waits on a question, the person's message is its answer.
    reply_to = None if principal.is_agent else run.open_question_id
    message, created = post_message(
        db,
        runtime.bus,
        run=run,
        sender=sender,
        content=body.content,
        role=run.role if sender is MessageSender.AGENT else None,
        message_id=body.id,
        receipt=_user_receipt(principal, runtime, run, mode=mode, reply_to=reply_to),
        mode=mode,
        reply_to=reply_to,
    )
    if not created:
        return _replay(message, sender=sender, content=body.content, response=response)
    hop("committed", message.id)
    return message


def _delivery_mode(run: AgentRun, asked: DeliveryMode | None) -> DeliveryMode:
    """The mode a user message is stored with.

    While a step runs, ``steer`` (the default) reaches it during the step: a live
    runner (claude) takes it on its input, the demo and command runners in the
    mid-step inbox file. Between steps (the feature route stores the message in
    the last, ended, run) it waits for the next step: ``queue``. Only a live runner
    can cut a turn short, so ``interrupt`` anywhere else is a 409 with a sentence.
    """
    if asked is DeliveryMode.INTERRUPT and not (run.is_active and run.live):
        where = "its runner cannot cut a turn short" if run.is_active else "no step is running"
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"Agent run {run.id} cannot be interrupted: {where} (only the claude runner "
            "can). Send the message with mode 'steer' or 'queue'.",
        )
    if not run.is_active:
        return DeliveryMode.QUEUE
    return asked or DeliveryMode.STEER


def _user_receipt(
    principal: Principal,
    runtime: Runtime,
    run: AgentRun,
    *,
    mode: DeliveryMode | None,
    reply_to: str | None,
) -> DeliveryReceipt | None:
    """``queued``; or ``sent`` (live) when this process runs the run's live step.

    Why: that step gets the message from the bus inside this very POST, so the
    ``sent`` write it would make before its stdin write is made here, by the put
    itself — one store call fewer between the POST and the agent's input. Nothing
    is lost if the process dies after the 201: a ``sent`` message still awaits
    delivery (the relay hands it to the next step, as one written and not taken).
    """
    if principal.is_agent:
        return None
    if (
        mode in (DeliveryMode.STEER, DeliveryMode.INTERRUPT)
        and reply_to is None
        and run.is_active
        and run.live
        and runtime.bus.is_live_here(run.id)
    ):
        live = DeliveryChannel.LIVE
        return receipt_for(run, state=ReceiptState.SENT, channel=live, previous=None)
    return DeliveryReceipt(state=ReceiptState.QUEUED)


@router.get("/agent-runs/{runId}/messages", summary="A run's thread, oldest first")
def get_run_messages(
    run_id: RunId,
    db: DbDep,
    principal: PrincipalDep,
    request: Request,
    response: Response,
    since: Annotated[
        str | None,
        Query(
            description=(
                f"Only messages after this cursor ({CURSOR_DIGITS} digits, the SSE event id) "
                "or after this ISO 8601 timestamp."
            )
        ),
    ] = None,
    sender: Annotated[MessageSender | None, Query(description="Only this sender.")] = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE_MESSAGES)] = None,
) -> list[AgentMessage]:
    require_run_access(principal, run_id)
    since_cursor: str | None = None
    since_timestamp: str | None = None
    if since is not None:
        if is_cursor(since.strip()):
            since_cursor = since.strip()
        else:
            try:
                since_timestamp = normalize_timestamp(since)
            except ValueError as error:
                raise HTTPException(422, f"Invalid query parameter 'since': {error}.") from None
    get_run(db, run_id=run_id)
    size = min(limit or MAX_PAGE_MESSAGES, MAX_PAGE_MESSAGES)
    messages = list_messages(
        db,
        run_id=run_id,
        since=since_cursor,
        since_timestamp=since_timestamp,
        sender=sender,
        limit=size + 1,
    )
    return trim_page(
        messages,
        limit=size,
        key=lambda message: message.cursor,
        request=request,
        response=response,
        param="since",
    )


@router.get("/features/{featureId}/messages", summary="Every run's messages of a feature")
def get_feature_messages(
    feature_id: FeatureId,
    db: DbDep,
    _: OperatorDep,
    request: Request,
    response: Response,
    after: Annotated[
        str | None, Query(description="The previous page's X-Next-Cursor (runId.cursor).")
    ] = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE_MESSAGES)] = None,
) -> list[AgentMessage]:
    get_feature(db, feature_id=feature_id)
    return page_after(
        list_messages_by_feature(db, feature_id=feature_id),
        after=after,
        limit=min(limit or MAX_PAGE_MESSAGES, MAX_PAGE_MESSAGES),
        key=lambda message: f"{message.run_id}.{message.cursor}",
        request=request,
        response=response,
    )


@router.put("/agent-runs/{runId}/read", summary="Move the run's read marker (unread counts)")
def put_read_marker(run_id: RunId, body: ReadMarkerUpdate, db: DbDep, _: OperatorDep) -> ReadMarker:
    if not is_cursor(body.cursor):
        raise HTTPException(
            422,
            f"Invalid body field 'cursor': '{body.cursor[:40]}' is not a message cursor "
            f"({CURSOR_DIGITS} digits, the SSE event id).",
        )
    get_run(db, run_id=run_id)
    return ReadMarker(run_id=run_id, cursor=set_read_cursor(db, run_id=run_id, cursor=body.cursor))
