"""An agent asks the person (``ask_human``): the question, the wait, the answer or the timeout.

The run item decides (``api.store.questions``): one open question per run, set
together with the ``waiting`` status. The question message's own receipt
records how it ended — ``delivered`` (answered, channel ``mcp``) or
``not_delivered`` (nobody answered, or the run ended) — through a forward-only
write, so of an answer and a timeout racing exactly one wins. Every step after
that decision is idempotent (deterministic notice ids, conditional close), so a
close retried after a failure completes what the first try left undone.
"""

from __future__ import annotations

import contextlib

from api.services.bus import MessageBus
from api.services.messages import post_message
from api.services.receipts import is_delivered, mark_delivered, notify_receipt, receipt_for
from api.services.status import announce, report_status
from api.store.db import Db
from api.store.errors import ConflictError, InvalidInputError, NotFoundError
from api.store.ids import new_id
from api.store.messages import find_message, list_messages
from api.store.questions import close_question, open_question
from api.store.receipts import PENDING_STATES, advance_receipt, mark_reply
from api.store.runs import get_run
from core.models import (
    AgentMessage,
    AgentRun,
    AgentRunRole,
    AgentRunStatus,
    DeliveryChannel,
    DeliveryReceipt,
    MessageSender,
    MessageType,
    ReceiptState,
    iso,
    utc_now,
)
from core.questions import QuestionCreate

#: The phase a run returns to once its question is closed.
WORKING_PHASE: dict[AgentRunRole, AgentRunStatus] = {
    AgentRunRole.ARCHITECT: AgentRunStatus.THINKING,
    AgentRunRole.CODER: AgentRunStatus.CODING,
    AgentRunRole.REVIEWER: AgentRunStatus.REVIEWING,
    AgentRunRole.TESTER: AgentRunStatus.TESTING,
}
#: Client-id prefixes of the notices that close a question (one each, even on retries).
ANSWERED_NOTICE_PREFIX = "answered-"
EXPIRED_NOTICE_PREFIX = "expired-"
NOBODY_ANSWERED = "nobody answered in time"
RUN_ENDED = "the run ended"
#: Longest quote of an answer in the "Answered" notice.
ANSWER_QUOTE_CHARS = 80


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= ANSWER_QUOTE_CHARS else text[: ANSWER_QUOTE_CHARS - 1] + "…"


def ask(
    db: Db, bus: MessageBus, *, run: AgentRun, body: QuestionCreate
) -> tuple[AgentMessage, bool]:
    """Store the question and set the run ``waiting``; returns ``(question, created)``.

    A retry with the same client id returns the stored question (``created`` False)
    and finishes what the first try left undone. ``ConflictError`` when the run has
    ended, another question is open, or the id belongs to another message.
    """
    question_id = body.id or new_id("q")
    if body.id is not None:
        existing = find_message(db, run_id=run.id, message_id=body.id)
        if existing is not None:
            if existing.type is not MessageType.QUESTION or existing.content != body.question:
                raise ConflictError(
                    f"Message id {body.id} is already used by a different message in this run; "
                    "ask with a new id."
                )
            return existing, False
    opened = open_question(db, run_id=run.id, question_id=question_id)
    question, created = post_message(
        db,
        bus,
        run=opened,
        sender=MessageSender.AGENT,
        role=run.role,
        content=body.question,
        type=MessageType.QUESTION,
        message_id=question_id,
        options=body.options,
    )
    announce(db, bus, run=opened)  # "Waiting for your answer" (idempotent notice id)
    return question, created


def _question(db: Db, *, run_id: str, question_id: str) -> AgentMessage:
    question = find_message(db, run_id=run_id, message_id=question_id)
    if question is None or question.type is not MessageType.QUESTION:
        raise NotFoundError(f"Question {question_id} was not found in run {run_id}.")
    return question


def _decide(
    db: Db, *, question: AgentMessage, receipt: DeliveryReceipt
) -> tuple[AgentMessage, bool]:
    """The one decisive write: the question's receipt, only while it is still pending."""
    return advance_receipt(
        db,
        run_id=question.run_id,
        cursor=question.cursor,
        receipt=receipt,
        replaces=PENDING_STATES,
    )


def _resume(db: Db, bus: MessageBus, *, run: AgentRun, question_id: str) -> None:
    """Clear the open question (counting the wait once) and return the run to its phase."""
    close_question(db, run_id=run.id, question_id=question_id)
    current = get_run(db, run_id=run.id)
    if current.status is AgentRunStatus.WAITING and current.open_question_id is None:
        with contextlib.suppress(ConflictError):  # it ended meanwhile (cancel): that stands
            report_status(db, bus, run_id=run.id, status=WORKING_PHASE[run.role])


def _answer_of(
    db: Db, *, run: AgentRun, question_id: str, message_id: str
) -> tuple[AgentMessage, AgentMessage]:
    """The question and the user message that answers it, both checked; raises otherwise."""
    question = _question(db, run_id=run.id, question_id=question_id)
    answer = find_message(db, run_id=run.id, message_id=message_id)
    if answer is None:
        raise NotFoundError(f"Message {message_id} was not found in run {run.id}.")
    if answer.sender is not MessageSender.USER or answer.cursor <= question.cursor:
        raise InvalidInputError(
            f"Message {message_id} cannot answer question {question_id}: an answer is a "
            "user message posted after the question."
        )
    return question, answer


def take_answer(
    db: Db, *, run: AgentRun, question: AgentMessage, answer: AgentMessage
) -> AgentMessage:
    """The writes the agent must not see the answer before; returns the decided question.

    Two conditional updates, nothing else: the question's receipt (the one decision
    against a timeout racing it) and the answer's own receipt (channel ``mcp``:
    consumed, so no later step is handed it again). The chat notices, ``replyTo``
    and the return to the run's phase follow (``answered``, idempotent): they may
    come after the agent has the answer, so the wait answers in two store calls.
    """
    if not run.is_active and question.receipt is None:
        raise ConflictError(
            f"Agent run {run.id} is no longer active ({run.status.value}); "
            "its question can only expire."
        )
    receipt = DeliveryReceipt(
        state=ReceiptState.DELIVERED,
        delivered_at=iso(utc_now()),
        run_id=run.id,
        role=run.role,
        step=run.step,
        channel=DeliveryChannel.MCP.value,
    )
    decided, _ = _decide(db, question=question, receipt=receipt)
    if decided.receipt is None or decided.receipt.state is not ReceiptState.DELIVERED:
        raise ConflictError(
            f"Question {question.id} was already closed unanswered "
            f"({decided.receipt.reason if decided.receipt else 'unknown'})."
        )
    if not is_delivered(answer):
        advance_receipt(
            db,
            run_id=answer.run_id,
            cursor=answer.cursor,
            receipt=receipt_for(
                run, state=ReceiptState.DELIVERED, channel=DeliveryChannel.MCP, previous=None
            ),
        )
    return decided


def answered(
    db: Db, bus: MessageBus, *, run_id: str, question_id: str, message_id: str
) -> AgentMessage:
    """The person answered with ``message_id``: record it everywhere; returns the question.

    Safe to repeat, and after ``take_answer``: every write is forward-only or has
    a deterministic id, so a retry completes what an earlier try left undone.
    """
    run = get_run(db, run_id=run_id)
    question, answer = _answer_of(db, run=run, question_id=question_id, message_id=message_id)
    decided = take_answer(db, run=run, question=question, answer=answer)
    assert decided.receipt is not None
    mark_reply(db, message=answer, question_id=question_id)
    # A copy read before ``take_answer`` still says queued: the notice is posted anyway.
    pending = answer.model_copy(update={"receipt": None}) if is_delivered(answer) else answer
    mark_delivered(db, bus, message=pending, origin=run, to=run, channel=DeliveryChannel.MCP.value)
    notify_receipt(
        db,
        bus,
        message=decided,
        origin=run,
        receipt=decided.receipt,
        text=f"💬 Answered: “{_clip(answer.content)}”",
        prefix=ANSWERED_NOTICE_PREFIX,
    )
    _resume(db, bus, run=run, question_id=question_id)
    return decided


def expired(db: Db, bus: MessageBus, *, run_id: str, question_id: str) -> AgentMessage:
    """Nobody answered (or the run ended): the question closes unanswered; returns it."""
    run = get_run(db, run_id=run_id)
    question = _question(db, run_id=run_id, question_id=question_id)
    reason = NOBODY_ANSWERED if run.is_active else RUN_ENDED
    receipt = DeliveryReceipt(state=ReceiptState.NOT_DELIVERED, reason=reason, run_id=run.id)
    decided, _ = _decide(db, question=question, receipt=receipt)
    if decided.receipt is None or decided.receipt.state is not ReceiptState.NOT_DELIVERED:
        raise ConflictError(f"Question {question_id} was already answered.")
    notify_receipt(
        db,
        bus,
        message=decided,
        origin=run,
        receipt=decided.receipt,
        text=f"⌛ Not answered: {decided.receipt.reason or reason}",
        prefix=EXPIRED_NOTICE_PREFIX,
    )
    _resume(db, bus, run=run, question_id=question_id)
    return decided


def expire_if_open(db: Db, bus: MessageBus, *, run_id: str) -> None:
    """After a run ended: a question still open (its server died with the step) closes.

    Answered but not closed (the server returned the answer, then died before its
    ``answered`` call finished): the close completes as answered, not expired.
    """
    run = get_run(db, run_id=run_id)
    if run.open_question_id is None or run.is_active:
        return
    with contextlib.suppress(ConflictError, NotFoundError, InvalidInputError):
        question = _question(db, run_id=run_id, question_id=run.open_question_id)
        if question.receipt is not None and question.receipt.state is ReceiptState.DELIVERED:
            found = list_messages(
                db, run_id=run_id, since=question.cursor, sender=MessageSender.USER, limit=1
            )
            if found:
                answered(db, bus, run_id=run_id, question_id=question.id, message_id=found[0].id)
                return
        expired(db, bus, run_id=run_id, question_id=run.open_question_id)
