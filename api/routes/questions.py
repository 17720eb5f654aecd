"""An agent's own channel into the chat: ask the person, close the question, check messages.

These routes serve the ``omakase`` MCP server (``api.agents.mcp_server``), which
runs beside the agent with its run-scoped token: only that token may call them
(the operator answers a question by posting a message, never through these).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Path, Response, status

from api.auth import Principal, require_run_access
from api.deps import PrincipalDep, RuntimeDep
from api.routes.params import RunId
from api.services.answer_wait import wait_for_answer
from api.services.mcp_inbox import check_messages
from api.services.questions import answered, ask, expired
from api.store.runs import get_run
from core.cursor import CURSOR_DIGITS, is_cursor
from core.models import (
    CLIENT_ID_PATTERN,
    AgentMessage,
)
from core.questions import (
    MessageCheck,
    QuestionClose,
    QuestionCreate,
    QuestionWait,
    QuestionWaitRequest,
)

router = APIRouter(tags=["questions"])

QuestionId = Annotated[str, Path(alias="questionId", pattern=CLIENT_ID_PATTERN)]


def require_own_agent(principal: Principal, run_id: str) -> None:
    """The run's own agent token, and nothing else (not even the operator's)."""
    require_run_access(principal, run_id)
    if not principal.is_agent:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "Only the run's agent (its run-scoped token) uses this route; "
            "a person answers by posting a message to the run.",
        )


@router.post(
    "/agent-runs/{runId}/questions",
    status_code=status.HTTP_201_CREATED,
    summary="The run's agent asks the person a question; the run waits for the answer",
    responses={
        200: {"description": "A retry with a known question id: the stored question."},
        409: {"description": "The run has ended, or another question is open."},
    },
)
def post_question(
    run_id: RunId,
    body: QuestionCreate,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    response: Response,
) -> AgentMessage:
    require_own_agent(principal, run_id)
    run = get_run(runtime.db, run_id=run_id)
    question, created = ask(runtime.db, runtime.bus, run=run, body=body)
    if not created:
        response.status_code = status.HTTP_200_OK
    return question


@router.post(
    "/agent-runs/{runId}/questions/{questionId}/answered",
    summary="The agent got the answer: close the question, receipt the answer",
    responses={409: {"description": "The question already closed unanswered."}},
)
def post_question_answered(
    run_id: RunId,
    question_id: QuestionId,
    body: QuestionClose,
    runtime: RuntimeDep,
    principal: PrincipalDep,
) -> AgentMessage:
    require_own_agent(principal, run_id)
    return answered(
        runtime.db,
        runtime.bus,
        run_id=run_id,
        question_id=question_id,
        message_id=body.message_id,
    )


@router.post(
    "/agent-runs/{runId}/questions/{questionId}/wait",
    summary="Wait for the person's answer: held open, answered the moment it is stored",
    responses={404: {"description": "No such question in this run."}},
)
async def post_question_wait(
    run_id: RunId,
    question_id: QuestionId,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    body: Annotated[QuestionWaitRequest | None, Body()] = None,
) -> QuestionWait:
    """Long poll: ``answer`` (already receipted: the agent has it), ``ended`` (the run or
    the question ended), or neither once ``seconds`` (≤ the server's cap) ran out."""
    require_own_agent(principal, run_id)
    seconds = (body or QuestionWaitRequest()).seconds
    outcome = await wait_for_answer(
        runtime.db, runtime.bus, run_id=run_id, question_id=question_id, wait_s=seconds
    )
    return QuestionWait(answer=outcome.answer, ended=outcome.ended)


@router.post(
    "/agent-runs/{runId}/questions/{questionId}/expired",
    summary="Nobody answered in time (or the run ended): close the question unanswered",
    responses={409: {"description": "The question was already answered."}},
)
def post_question_expired(
    run_id: RunId, question_id: QuestionId, runtime: RuntimeDep, principal: PrincipalDep
) -> AgentMessage:
    require_own_agent(principal, run_id)
    return expired(runtime.db, runtime.bus, run_id=run_id, question_id=question_id)


@router.post(
    "/agent-runs/{runId}/messages/check",
    summary="The person's messages not yet handed to the agent, marked delivered (mcp)",
)
def post_messages_check(
    run_id: RunId,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    body: Annotated[MessageCheck | None, Body()] = None,
) -> list[AgentMessage]:
    require_own_agent(principal, run_id)
    since = body.since if body is not None else None
    if since is not None and not is_cursor(since):
        raise HTTPException(
            422,
            f"Invalid body field 'since': '{since[:40]}' is not a message cursor "
            f"({CURSOR_DIGITS} digits, the SSE event id).",
        )
    run = get_run(runtime.db, run_id=run_id)
    return check_messages(runtime.db, runtime.bus, run=run, since=since)
