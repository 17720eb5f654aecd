"""Input models of an agent's questions and message checks (the ``omakase`` MCP server's API).

Shared by the API (422 on bad input) and the MCP server (a tool error before
anything is sent), so both refuse exactly the same questions.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, field_validator

from core.models import CLIENT_ID_PATTERN, MAX_MESSAGE_CHARS, AgentMessage, CamelModel, InputModel

#: ``ask_human`` options: a short list of short, one-line quick answers.
MAX_QUESTION_OPTIONS = 6
MAX_OPTION_CHARS = 80


class QuestionCreate(InputModel):
    """``POST /api/agent-runs/{runId}/questions`` (the run's agent token only)."""

    question: str
    options: list[str] | None = None
    #: Client question id: a retry with the same id stores one question.
    id: Annotated[str, StringConstraints(pattern=CLIENT_ID_PATTERN)] | None = None

    @field_validator("question")
    @classmethod
    def _question_in_bounds(cls, value: str) -> str:
        if not value:
            raise ValueError("The question must not be empty or only whitespace")
        if len(value) > MAX_MESSAGE_CHARS:
            raise ValueError(
                f"The question is {len(value):,} characters; the limit is {MAX_MESSAGE_CHARS:,}"
            )
        return value

    @field_validator("options")
    @classmethod
    def _options_short(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if len(value) > MAX_QUESTION_OPTIONS:
            raise ValueError(
                f"{len(value)} options given; offer at most {MAX_QUESTION_OPTIONS} quick answers"
            )
        cleaned = [option.strip() for option in value]
        for option in cleaned:
            if not option or len(option) > MAX_OPTION_CHARS or not option.isprintable():
                raise ValueError(
                    f"each option must be one line of 1 to {MAX_OPTION_CHARS} printable characters"
                )
        if len(set(cleaned)) != len(cleaned):
            raise ValueError("the options must differ from each other")
        return cleaned or None


class QuestionClose(InputModel):
    """``POST …/questions/{questionId}/answered``: the user message that answered it."""

    message_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class MessageCheck(InputModel):
    """``POST …/messages/check``: where the caller's last check ended (optional)."""

    since: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None


#: Longest a ``…/wait`` request is held (the API caps it at its own limit too).
MAX_QUESTION_WAIT_S = 30.0


class QuestionWaitRequest(InputModel):
    """``POST …/questions/{questionId}/wait``: how long the API may hold the request."""

    seconds: Annotated[float, Field(gt=0, le=MAX_QUESTION_WAIT_S)] = 5.0


class QuestionWait(CamelModel):
    """The held wait's end: the answer (taken: the agent gets it), the run's end, or neither
    (the hold ran out: ask again)."""

    answer: AgentMessage | None = None
    ended: str | None = None
