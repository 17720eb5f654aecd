"""An agent waits for the person's answer: pushed the moment it is stored, not found by a poll.

Why a held request: ``ask_human`` used to poll the thread every 0.5 s, so an
answer waited ~250 ms at the median for nothing. The ``omakase`` MCP server now
holds one request open (``POST …/questions/{id}/wait``) and this process wakes
it from the message bus inside the answer's own POST (the same in-process
publish that wakes the SSE streams). Answers POSTed through another API process
and the run's end are found by a store read every ``ANSWER_POLL_S`` meanwhile.

The wait answers only after ``take_answer``'s two writes (the question's
decision, the answer consumed), so an answer is handed to the agent at most
once whichever of a timeout, a cancel or a restart comes in between; a retry of
a wait whose response was lost finds the question decided and gets the same
answer again. The rest of the close (notices, the run's phase) follows from the
MCP server's ``answered`` call.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from api.services.bus import MessageBus
from api.services.questions import take_answer
from api.store.db import Db
from api.store.errors import ConflictError, NotFoundError
from api.store.messages import find_message, list_messages
from api.store.runs import get_run
from core.models import AgentMessage, MessageSender, MessageType, ReceiptState

#: How often a held wait reads the store (answers POSTed through another process).
ANSWER_POLL_S = 0.5
#: The run's status (did it end?) is read every this many polls.
RUN_CHECK_EVERY = 4
#: Longest a wait is held; the client asks again (below its own HTTP timeout).
MAX_WAIT_S = 5.0


@dataclass(frozen=True)
class WaitOutcome:
    """What the held wait ends with: the answer, the run's end, or nothing yet."""

    answer: AgentMessage | None = None
    ended: str | None = None


class _Watch:
    """A bus listener for the first user message of the run; wakes the waiting coroutine."""

    def __init__(self, loop: asyncio.AbstractEventLoop, run_id: str, after: str) -> None:
        self._loop = loop
        self._run_id = run_id
        self._after = after
        self.found: AgentMessage | None = None
        self.event = asyncio.Event()

    def __call__(self, message: AgentMessage) -> None:  # any thread (the POST's)
        if (
            self.found is None
            and message.run_id == self._run_id
            and message.sender is MessageSender.USER
            and message.cursor > self._after
        ):
            self.found = message
            self._loop.call_soon_threadsafe(self.event.set)


def _question(db: Db, *, run_id: str, question_id: str) -> AgentMessage:
    question = find_message(db, run_id=run_id, message_id=question_id)
    if question is None or question.type is not MessageType.QUESTION:
        raise NotFoundError(f"Question {question_id} was not found in run {run_id}.")
    return question


def _first_answer(db: Db, question: AgentMessage) -> AgentMessage | None:
    found = list_messages(
        db, run_id=question.run_id, since=question.cursor, sender=MessageSender.USER, limit=1
    )
    return found[0] if found else None


def _settled(db: Db, question: AgentMessage) -> WaitOutcome:
    """A question already decided (a retried wait): the same answer again, or why not."""
    assert question.receipt is not None
    if question.receipt.state is ReceiptState.DELIVERED:
        return WaitOutcome(answer=_first_answer(db, question))
    return WaitOutcome(ended=question.receipt.reason or question.receipt.state.value)


def _ended(db: Db, run_id: str) -> str | None:
    run = get_run(db, run_id=run_id)
    return None if run.is_active else (run.error_message or run.status.value)


def _take(db: Db, question: AgentMessage, answer: AgentMessage) -> WaitOutcome:
    run = get_run(db, run_id=question.run_id)
    try:
        take_answer(db, run=run, question=question, answer=answer)
    except ConflictError as error:  # it expired, or the run ended, meanwhile
        return WaitOutcome(ended=str(error) if run.is_active else run.error_message or str(error))
    return WaitOutcome(answer=answer)


async def wait_for_answer(
    db: Db, bus: MessageBus, *, run_id: str, question_id: str, wait_s: float
) -> WaitOutcome:
    """Hold until the question's answer is stored (and taken), the run ends, or ``wait_s``."""
    loop = asyncio.get_running_loop()
    question = await run_in_threadpool(_question, db, run_id=run_id, question_id=question_id)
    if question.receipt is not None:
        return await run_in_threadpool(_settled, db, question)
    watch = _Watch(loop, run_id, question.cursor)
    unsubscribe = bus.subscribe(watch)  # before the first read: nothing slips between
    try:
        deadline = loop.time() + min(wait_s, MAX_WAIT_S)
        for tick in itertools.count():
            answer = watch.found or await run_in_threadpool(_first_answer, db, question)
            if answer is not None:
                return await run_in_threadpool(_take, db, question, answer)
            if tick % RUN_CHECK_EVERY == 0:
                ended = await run_in_threadpool(_ended, db, run_id)
                if ended is not None:
                    return WaitOutcome(ended=ended)
            remaining = deadline - loop.time()
            if remaining <= 0:
                return WaitOutcome()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watch.event.wait(), min(ANSWER_POLL_S, remaining))
    finally:
        unsubscribe()
    raise AssertionError("unreachable")  # pragma: no cover - count() never ends
