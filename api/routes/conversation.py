"""The feature's conversation: post to the feature, withdraw a queued message.

People talk to the feature's team, not to one step: a message posted to the
feature goes to its running step, or between steps is held (mode ``queue``) in
the thread of the feature's most recent run, which the feature's relay polls
with every other run of the feature, so the next step receives it. The feature's
stream is ``api.routes.stream``'s.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response, status

from api.auth import require_operator
from api.deps import OperatorDep, PrincipalDep, RuntimeDep
from api.routes.messages import post_user_message
from api.routes.params import FeatureId, MessageId, RunId
from api.runtime import Runtime
from api.services.messages import post_message
from api.store.errors import ConflictError
from api.store.features import get_feature
from api.store.messages import close_queued, find_message, list_messages, withdraw_message
from api.store.runs import get_run, list_runs_for_feature
from core.conversation import feature_markdown, order_runs
from core.models import (
    AgentMessage,
    AgentRun,
    DeliveryMode,
    DeliveryReceipt,
    Feature,
    FeatureStatus,
    MessageCreate,
    MessageSender,
    MessageType,
    ReceiptState,
)

router = APIRouter(tags=["messages"])

MARKDOWN_MEDIA_TYPE = "text/markdown; charset=utf-8"
ENDED_FEATURE_STATUSES = frozenset({FeatureStatus.PASSING, FeatureStatus.FAILING})
#: Client-id prefix of the withdrawal notice (one per message, even on retries).
WITHDRAWN_NOTICE_PREFIX = "wdrn-"
#: Why a message held for the next step was closed when the feature ended meanwhile.
FEATURE_ENDED_REASON = "the pipeline ended"


def feature_runs(runtime: Runtime, feature: Feature) -> list[AgentRun]:
    """The feature's runs in pipeline order; the current run is read consistently
    (the ``by_feature`` index may not list a run that has just started)."""
    runs = list_runs_for_feature(runtime.db, feature_id=feature.id)
    if feature.current_run_id and feature.current_run_id not in {r.id for r in runs}:
        runs.append(get_run(runtime.db, run_id=feature.current_run_id))
    return order_runs(runs)


def _ended_detail(feature: Feature) -> str:
    return (
        f"Feature {feature.id} has ended ({feature.status.value}); its conversation is read-only."
    )


@router.post(
    "/features/{featureId}/messages",
    status_code=status.HTTP_201_CREATED,
    summary="Post a message to the feature's team (the running step, or the next one)",
    responses={
        200: {"description": "A retry with a known client id: the stored message."},
        409: {"description": "The feature has ended or not started, or the id is reused."},
    },
)
def post_feature_message(
    feature_id: FeatureId,
    body: MessageCreate,
    runtime: RuntimeDep,
    principal: OperatorDep,
    response: Response,
) -> AgentMessage:
    db = runtime.db
    feature = get_feature(db, feature_id=feature_id)
    runs = feature_runs(runtime, feature)
    if body.id is not None:
        # A retry: the first attempt may have landed in another step's thread (the step
        # changed, or the feature ended, since), and ids are unique per run: look in all.
        for run in reversed(runs):
            if find_message(db, run_id=run.id, message_id=body.id) is not None:
                return post_user_message(runtime, run, body, principal, response, allow_ended=True)
    if feature.status in ENDED_FEATURE_STATUSES:
        raise HTTPException(status.HTTP_409_CONFLICT, _ended_detail(feature))
    if not runs:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"Feature {feature.id} has not started yet: no step exists to hold the message; "
            "try again once its first step has started.",
        )
    current = next((r for r in runs if r.id == feature.current_run_id), None)
    if current is not None and current.is_active:
        target, sent = current, body
    else:  # between steps: held in the last run's thread for the next step
        target, sent = runs[-1], body.model_copy(update={"mode": body.mode or DeliveryMode.QUEUE})
    # allow_ended: a step that ends during this request still leaves the message in the
    # feature's threads, which the relay polls, so the next step receives it.
    message = post_user_message(runtime, target, sent, principal, response, allow_ended=True)
    return _close_if_ended_meanwhile(runtime, feature_id, message)


def _close_if_ended_meanwhile(
    runtime: Runtime, feature_id: str, message: AgentMessage
) -> AgentMessage:
    """The pipeline may have closed its undelivered messages between our read and the
    write: such a message would wait forever, so it is closed as not delivered."""
    if get_feature(runtime.db, feature_id=feature_id).status not in ENDED_FEATURE_STATUSES:
        return message
    receipt = DeliveryReceipt(state=ReceiptState.NOT_DELIVERED, reason=FEATURE_ENDED_REASON)
    try:
        return close_queued(
            runtime.db, run_id=message.run_id, message_id=message.id, receipt=receipt
        )
    except ConflictError:  # the relay got to it first (delivered or closed it)
        return find_message(runtime.db, run_id=message.run_id, message_id=message.id) or message


@router.delete(
    "/agent-runs/{runId}/messages/{messageId}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Withdraw a user message that no agent has received yet",
    responses={409: {"description": "The message was already sent, delivered or closed."}},
)
def delete_message(
    run_id: RunId, message_id: MessageId, runtime: RuntimeDep, principal: PrincipalDep
) -> Response:
    require_operator(principal)
    db = runtime.db
    run = get_run(db, run_id=run_id)
    message = find_message(db, run_id=run_id, message_id=message_id)
    if message is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"Message {message_id} was not found in agent run {run_id}."
        )
    if message.sender is not MessageSender.USER or message.type is not MessageType.MESSAGE:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"Message {message_id} is not a user message: only the person's own messages "
            "can be withdrawn.",
        )
    try:
        withdraw_message(db, run_id=run_id, message_id=message_id)
    except ConflictError:
        current = find_message(db, run_id=run_id, message_id=message_id)
        receipt = current.receipt if current is not None else None
        if receipt is not None and receipt.state is ReceiptState.WITHDRAWN:
            _post_withdrawn_notice(runtime, run, message)  # a retry: the notice once
        raise
    _post_withdrawn_notice(runtime, run, message)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _post_withdrawn_notice(runtime: Runtime, run: AgentRun, message: AgentMessage) -> None:
    """The status notice carrying the ``withdrawn`` receipt, so live chats update (its
    deterministic id makes a retried withdrawal post it once)."""
    post_message(
        runtime.db,
        runtime.bus,
        run=run,
        sender=MessageSender.AGENT,
        role=run.role,
        content="↩️ Withdrawn: no agent will receive this message",
        type=MessageType.STATUS,
        message_id=f"{WITHDRAWN_NOTICE_PREFIX}{message.id}",
        receipt=DeliveryReceipt(state=ReceiptState.WITHDRAWN),
        receipt_for=message.id,
    )


@router.get(
    "/features/{featureId}/conversation.md",
    summary="The feature's conversation and pipeline timeline as Markdown (bug report, PR body)",
    responses={
        200: {
            "content": {"text/markdown": {"schema": {"type": "string"}}},
            "description": "The Markdown.",
        }
    },
)
def get_feature_markdown(feature_id: FeatureId, runtime: RuntimeDep, _: OperatorDep) -> Response:
    feature = get_feature(runtime.db, feature_id=feature_id)
    runs = feature_runs(runtime, feature)
    # Each run's thread read consistently (the by_feature index may lag behind).
    messages = [m for run in runs for m in list_messages(runtime.db, run_id=run.id)]
    return Response(feature_markdown(feature, runs, messages), media_type=MARKDOWN_MEDIA_TYPE)
