"""The ``omakase`` MCP server: an agent's voice in the chat (``python -m api.agents.mcp_server``).

One server per step, over stdio, started by the agent CLI from the config in
``api.agents.mcp_config``. It talks only to our HTTP API, with the run-scoped
agent token from its environment (``OMAKASE_API_URL``, ``OMAKASE_RUN_ID``,
``OMAKASE_AGENT_TOKEN``), never to the store: the API stays the one place that
decides, and a token is worth one run.

Why it retries: ``ask_human`` may wait fifteen minutes, and the API may restart
meanwhile. Every write carries a client id (a retry stores one copy), and
every read is repeated with backoff until the deadline, so an API restart only
delays the answer. The wait ends on the answer, the timeout, or the run's end.

Why it does not poll: the wait is a request the API holds open
(``POST …/questions/{id}/wait``, ``api.services.answer_wait``) and answers the
moment the person's answer is stored and receipted, so the agent has it within
a few milliseconds of the POST. The rest of the close (the chat's "Answered"
notice, the run back in its phase) follows the tool's result, in a thread.

Why not the ``mcp`` SDK's server: ``api.agents.mcp_stdio`` says (start time).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from api.agents.mcp_stdio import StdioServer, Tool, ToolError
from core.client import ApiClient, ApiError
from core.models import MAX_MESSAGE_CHARS, AgentMessage, MessageCreate
from core.questions import QuestionCreate, QuestionWait

log = logging.getLogger(__name__)

#: First pause after the API did not answer; doubles up to ``MAX_BACKOFF_S``.
RETRY_S = 0.5
MAX_BACKOFF_S = 5.0
#: How long one held wait may last (below ``HTTP_TIMEOUT_S``: the API answers first).
WAIT_HOLD_S = 5.0
#: After the deadline, how long closing the question may keep retrying.
CLOSE_GRACE_S = 30.0
#: One HTTP call's connect/read limit (a stuck call must not eat the whole wait).
HTTP_TIMEOUT_S = 10.0
DEFAULT_ASK_TIMEOUT_S = 900.0
SERVER_VERSION = "1.0"


def _retryable(error: ApiError) -> bool:
    """No answer, or the API/store is briefly down: try again. 4xx: the answer stands."""
    return error.status == 0 or error.status >= 500


def _invalid(error: ValidationError) -> ToolError:
    problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in error.errors())
    return ToolError(f"Invalid input: {problems}.")


@dataclass
class OmakaseAgent:
    """The tools' state for one step: the API client and where the last check ended."""

    api: ApiClient
    run_id: str
    ask_timeout_s: float
    retry_s: float = RETRY_S
    #: The cursor of the last message ``check_messages`` returned (a lost answer is asked again).
    checked_up_to: str | None = None
    #: Closes still running after their answer was returned (joined before exiting).
    closing: list[threading.Thread] = field(default_factory=list)
    _clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    @classmethod
    def from_env(cls, env: dict[str, str]) -> OmakaseAgent:
        missing = [
            k
            for k in ("OMAKASE_API_URL", "OMAKASE_RUN_ID", "OMAKASE_AGENT_TOKEN")
            if not env.get(k)
        ]
        if missing:
            raise SystemExit(f"omakase MCP server: missing {', '.join(missing)} in its environment")
        api = ApiClient(env["OMAKASE_API_URL"], env["OMAKASE_AGENT_TOKEN"], timeout=HTTP_TIMEOUT_S)
        timeout = float(env.get("OMAKASE_ASK_TIMEOUT_SECONDS") or DEFAULT_ASK_TIMEOUT_S)
        return cls(api=api, run_id=env["OMAKASE_RUN_ID"], ask_timeout_s=timeout)

    @property
    def run_path(self) -> str:
        return f"/api/agent-runs/{self.run_id}"

    # --- calls with retries -------------------------------------------------------------

    def _once(self, method: str, path: str, body: Any = None) -> Any:
        return self.api.request(method, self.run_path + path, json=body)

    def _until(self, deadline: float, method: str, path: str, body: Any = None) -> Any:
        """One call, repeated with backoff while the API is unreachable, until ``deadline``."""
        backoff = self.retry_s
        while True:
            try:
                return self._once(method, path, body)
            except ApiError as error:
                if not _retryable(error) or self._clock() + backoff > deadline:
                    raise
                log.warning("%s %s: %s; retrying in %.1f s", method, path, error, backoff)
            time.sleep(backoff)
            backoff = min(MAX_BACKOFF_S, backoff * 2)

    def _write(self, method: str, path: str, body: Any = None) -> Any:
        """A write the agent waits for: a clear tool error if it cannot be made."""
        try:
            return self._until(self._clock() + CLOSE_GRACE_S, method, path, body)
        except ApiError as error:
            raise ToolError(error.detail) from None

    # --- ask_human -----------------------------------------------------------------------

    def ask_human(self, question: str, options: list[str] | None = None) -> str:
        # The previous question's close first: until it ends, the run still has it open.
        for thread in self.closing:
            thread.join(CLOSE_GRACE_S)
        self.closing = [t for t in self.closing if t.is_alive()]
        try:
            body = QuestionCreate(question=question, options=options, id=f"q-{uuid.uuid4().hex}")
        except ValidationError as error:
            raise _invalid(error) from None
        asked = AgentMessage.model_validate(
            self._write("POST", "/questions", body.model_dump(by_alias=True, exclude_none=True))
        )
        deadline = self._clock() + self.ask_timeout_s
        outcome = self._wait_for_answer(asked, deadline)
        if isinstance(outcome, AgentMessage):
            self._close_after(asked, f"/questions/{asked.id}/answered", {"messageId": outcome.id})
            return outcome.content
        self._close(asked, f"/questions/{asked.id}/expired", None)
        return outcome

    def _wait_for_answer(self, asked: AgentMessage, deadline: float) -> AgentMessage | str:
        """The answer, or a sentence (timeout, run ended): held waits, one after the other.

        The API answers a held wait the moment the answer is stored; a wait that ran
        out empty is asked again at once, a failed one after a backoff.
        """
        backoff = self.retry_s
        path = f"/questions/{asked.id}/wait"
        while (remaining := deadline - self._clock()) > 0:
            try:
                got = self._once("POST", path, {"seconds": min(WAIT_HOLD_S, remaining)})
            except ApiError as error:
                if not _retryable(error):
                    raise ToolError(error.detail) from None
                log.warning("waiting for the answer: %s; retrying in %.1f s", error, backoff)
                time.sleep(max(0.0, min(backoff, deadline - self._clock())))
                backoff = min(MAX_BACKOFF_S, backoff * 2)
                continue
            backoff = self.retry_s
            outcome = QuestionWait.model_validate(got)
            if outcome.answer is not None:
                return outcome.answer
            if outcome.ended is not None:
                return (
                    f"The run ended while you waited ({outcome.ended}); stop working on this step."
                )
        return (
            f"Nobody answered within {self.ask_timeout_s:g} s; "
            "decide on your own and say what you chose."
        )

    def _close_after(self, asked: AgentMessage, path: str, body: Any) -> None:
        """Close the question in a thread: the agent has its answer already (see module doc)."""
        thread = threading.Thread(
            target=self._close, args=(asked, path, body), name=f"close-{asked.id}"
        )
        thread.start()
        self.closing.append(thread)

    def _close(self, asked: AgentMessage, path: str, body: Any) -> None:
        """Record how the question ended; the agent carries on even if the API is gone."""
        try:
            self._until(self._clock() + CLOSE_GRACE_S, "POST", path, body)
        except ApiError as error:
            log.warning("could not close question %s: %s", asked.id, error)

    # --- messages -------------------------------------------------------------------------

    def send_message(self, text: str) -> str:
        try:
            body = MessageCreate(content=text, id=f"mcp-{uuid.uuid4().hex}")
        except ValidationError as error:
            raise _invalid(error) from None
        self._write("POST", "/messages", body.model_dump(by_alias=True, exclude_none=True))
        return "Sent to the person's chat."

    def check_messages(self) -> str:
        body = {"since": self.checked_up_to} if self.checked_up_to else {}
        checked = self._write("POST", "/messages/check", body)
        found = [AgentMessage.model_validate(m) for m in checked]
        if not found:
            return "No new messages from the person."
        self.checked_up_to = found[-1].cursor
        lines = [f"{len(found)} new message(s) from the person, oldest first:"]
        lines += [f"--- {m.timestamp}\n{m.content}" for m in found]
        return "\n".join(lines)


def _string(arguments: dict[str, Any], name: str) -> str:
    value = arguments.get(name)
    if not isinstance(value, str):
        raise ToolError(f"Invalid input: `{name}` must be a string.")
    return value


def _options(arguments: dict[str, Any]) -> list[str] | None:
    value = arguments.get("options")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ToolError("Invalid input: `options` must be a list of strings.")
    return value


def _schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}


def build_server(agent: OmakaseAgent) -> StdioServer:
    ask = Tool(
        name="ask_human",
        description=(
            "Ask the person a question and wait for the answer (returned as text). Use it for "
            "decisions that are theirs to make; offer up to 6 short `options` when the answer "
            f"is a choice. The question is at most {MAX_MESSAGE_CHARS:,} characters. If nobody "
            "answers in time you get a sentence saying so: then decide on your own."
        ),
        input_schema=_schema(
            {
                "question": {"type": "string"},
                "options": {
                    "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}],
                    "default": None,
                },
            },
            ["question"],
        ),
        run=lambda a: agent.ask_human(_string(a, "question"), _options(a)),
    )
    send = Tool(
        name="send_message",
        description="Write a short message in the person's chat (no answer awaited).",
        input_schema=_schema({"text": {"type": "string"}}, ["text"]),
        run=lambda a: agent.send_message(_string(a, "text")),
    )
    check = Tool(
        name="check_messages",
        description="The messages the person sent you since your last check (marks them read).",
        input_schema=_schema({}, []),
        run=lambda a: agent.check_messages(),
    )
    return StdioServer(
        "omakase",
        SERVER_VERSION,
        instructions=(
            "Talk with the person who asked for this feature: ask, tell, read their messages."
        ),
        tools=[ask, send, check],
    )


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="omakase-mcp %(levelname)s %(message)s")
    agent = OmakaseAgent.from_env(dict(os.environ))
    try:
        build_server(agent).serve(sys.stdin.buffer, sys.stdout.buffer)
    finally:
        for thread in agent.closing:  # the CLI closed our input: finish the closes first
            thread.join(timeout=CLOSE_GRACE_S)
        agent.api.close()


if __name__ == "__main__":
    main()
