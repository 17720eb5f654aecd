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
"""

from __future__ import annotations

import itertools
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
from anyio import to_thread
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import ValidationError

from core.client import ApiClient, ApiError
from core.models import (
    MAX_MESSAGE_CHARS,
    AgentMessage,
    MessageCreate,
    MessageSender,
)
from core.questions import QuestionCreate

log = logging.getLogger(__name__)

#: How often the wait looks for the answer (and at whether the run still runs).
ASK_POLL_S = 0.5
#: The wait reads the run's status (did it end?) every this many polls.
RUN_CHECK_EVERY = 4
#: Backoff while the API does not answer: doubling from the poll period up to this.
MAX_BACKOFF_S = 5.0
#: After the deadline, how long closing the question may keep retrying.
CLOSE_GRACE_S = 30.0
#: One HTTP call's connect/read limit (a stuck call must not eat the whole wait).
HTTP_TIMEOUT_S = 10.0
DEFAULT_ASK_TIMEOUT_S = 900.0

T = TypeVar("T")


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
    poll_s: float = ASK_POLL_S
    #: The cursor of the last message ``check_messages`` returned (a lost answer is asked again).
    checked_up_to: str | None = None
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

    async def _once(self, method: str, path: str, body: Any = None, params: Any = None) -> Any:
        return await to_thread.run_sync(
            lambda: self.api.request(method, self.run_path + path, json=body, params=params)
        )

    async def _until(self, deadline: float, method: str, path: str, body: Any = None) -> Any:
        """One call, repeated with backoff while the API is unreachable, until ``deadline``."""
        backoff = self.poll_s
        while True:
            try:
                return await self._once(method, path, body)
            except ApiError as error:
                if not _retryable(error) or self._clock() + backoff > deadline:
                    raise
                log.warning("%s %s: %s; retrying in %.1f s", method, path, error, backoff)
            await anyio.sleep(backoff)
            backoff = min(MAX_BACKOFF_S, backoff * 2)

    async def _write(self, method: str, path: str, body: Any = None) -> Any:
        """A write the agent waits for: a clear tool error if it cannot be made."""
        try:
            return await self._until(self._clock() + CLOSE_GRACE_S, method, path, body)
        except ApiError as error:
            raise ToolError(error.detail) from None

    # --- ask_human -----------------------------------------------------------------------

    async def ask_human(self, question: str, options: list[str] | None = None) -> str:
        try:
            body = QuestionCreate(question=question, options=options, id=f"q-{uuid.uuid4().hex}")
        except ValidationError as error:
            raise _invalid(error) from None
        asked = AgentMessage.model_validate(
            await self._write(
                "POST", "/questions", body.model_dump(by_alias=True, exclude_none=True)
            )
        )
        deadline = self._clock() + self.ask_timeout_s
        outcome = await self._wait_for_answer(asked, deadline)
        if isinstance(outcome, AgentMessage):
            await self._close(asked, f"/questions/{asked.id}/answered", {"messageId": outcome.id})
            return outcome.content
        await self._close(asked, f"/questions/{asked.id}/expired", None)
        return outcome

    async def _wait_for_answer(self, asked: AgentMessage, deadline: float) -> AgentMessage | str:
        """The first user message after the question, or a sentence (timeout, run ended).

        Fixed-rate polls of the thread (a slow answer does not stretch the period);
        the run's status, which only matters for a cancel, every ``RUN_CHECK_EVERY``.
        """
        backoff = self.poll_s
        params = {"since": asked.cursor, "sender": MessageSender.USER.value, "limit": 1}
        for tick in itertools.count():
            started = self._clock()
            try:
                found = await self._once("GET", "/messages", params=params)
                if found:
                    return AgentMessage.model_validate(found[0])
                if tick % RUN_CHECK_EVERY == 0:
                    run = await self._once("GET", "")
                    if run.get("status") in ("completed", "failed"):
                        reason = run.get("errorMessage") or run["status"]
                        return (
                            f"The run ended while you waited ({reason}); stop working on this step."
                        )
                backoff = self.poll_s
            except ApiError as error:
                if not _retryable(error):
                    raise ToolError(error.detail) from None
                log.warning("waiting for the answer: %s; retrying in %.1f s", error, backoff)
                backoff = min(MAX_BACKOFF_S, backoff * 2)
            if self._clock() >= deadline:
                return (
                    f"Nobody answered within {self.ask_timeout_s:g} s; "
                    "decide on your own and say what you chose."
                )
            pause = backoff - (self._clock() - started)
            await anyio.sleep(max(0.0, min(pause, deadline - self._clock())))
        raise AssertionError("unreachable")  # pragma: no cover - count() never ends

    async def _close(self, asked: AgentMessage, path: str, body: Any) -> None:
        """Record how the question ended; the agent carries on even if the API is gone."""
        try:
            await self._until(self._clock() + CLOSE_GRACE_S, "POST", path, body)
        except ApiError as error:
            log.warning("could not close question %s: %s", asked.id, error)

    # --- messages -------------------------------------------------------------------------

    async def send_message(self, text: str) -> str:
        try:
            body = MessageCreate(content=text, id=f"mcp-{uuid.uuid4().hex}")
        except ValidationError as error:
            raise _invalid(error) from None
        await self._write("POST", "/messages", body.model_dump(by_alias=True, exclude_none=True))
        return "Sent to the person's chat."

    async def check_messages(self) -> str:
        body = {"since": self.checked_up_to} if self.checked_up_to else {}
        found = [
            AgentMessage.model_validate(m)
            for m in await self._write("POST", "/messages/check", body)
        ]
        if not found:
            return "No new messages from the person."
        self.checked_up_to = found[-1].cursor
        lines = [f"{len(found)} new message(s) from the person, oldest first:"]
        lines += [f"--- {m.timestamp}\n{m.content}" for m in found]
        return "\n".join(lines)


def build_server(agent: OmakaseAgent) -> MCPServer:
    server: MCPServer = MCPServer(
        "omakase",
        instructions=(
            "Talk with the person who asked for this feature: ask, tell, read their messages."
        ),
    )

    @server.tool(
        description=(
            "Ask the person a question and wait for the answer (returned as text). Use it for "
            "decisions that are theirs to make; offer up to 6 short `options` when the answer "
            f"is a choice. The question is at most {MAX_MESSAGE_CHARS:,} characters. If nobody "
            "answers in time you get a sentence saying so: then decide on your own."
        ),
        # Plain text to the model: the answer itself, not {"result": "..."}.
        structured_output=False,
    )
    async def ask_human(question: str, options: list[str] | None = None) -> str:
        return await agent.ask_human(question, options)

    @server.tool(
        description="Write a short message in the person's chat (no answer awaited).",
        structured_output=False,
    )
    async def send_message(text: str) -> str:
        return await agent.send_message(text)

    @server.tool(
        description="The messages the person sent you since your last check (marks them read).",
        structured_output=False,
    )
    async def check_messages() -> str:
        return await agent.check_messages()

    return server


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="omakase-mcp %(levelname)s %(message)s")
    agent = OmakaseAgent.from_env(dict(os.environ))
    try:
        build_server(agent).run("stdio")
    finally:
        agent.api.close()


if __name__ == "__main__":
    main()
