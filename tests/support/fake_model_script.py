"""What the scripted model sees and says: a request view, reply builders, policies.

A test scripts the stand-in model with a *responder*: a callable that gets a
``ModelRequest`` and returns the reply as content blocks. Builders (``text``,
``tool``, ``bash``, ``mcp_tool``) make the blocks; ``Rules`` lists
predicate → reply pairs in order; ``scripted_policy`` reads directives written
into the prompt itself, so a pipeline test can drive an agent from the feature
description alone:

* ``[[bash: sleep 5]]`` — call the Bash tool with that command;
* ``[[ask: Which colour?]]`` — call ``mcp__omakase__ask_human`` with that question;
* ``[[tool: Name {"json": "input"}]]`` — call any tool;
* ``[[verdict: REQUEST_CHANGES]]`` — what a reviewer answers (default ``APPROVE``).

Tool directives run in order, one per model request, at the start of each turn;
then the model answers text that quotes what the user said and the last tool
result. A prompt naming both ``APPROVE`` and ``REQUEST_CHANGES`` is a review
request: the answer starts with the verdict on its own line.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

Block = dict[str, Any]
Responder = Callable[["ModelRequest"], list[Block]]
Predicate = Callable[["ModelRequest"], bool]

#: How much of a user's text the default answer quotes.
QUOTE_LIMIT = 400
DIRECTIVE = re.compile(r"\[\[(bash|ask|tool|verdict):\s*(.*?)\]\]", re.DOTALL)
#: The CLI wraps context it adds itself (CLAUDE.md, dates, injected messages) in these tags.
REMINDER = re.compile(r"<system-reminder>.*?</system-reminder>", re.DOTALL)
#: The marker the CLI adds to the user message after an interrupt.
INTERRUPTED = re.compile(r"\[Request interrupted by user[^\]]*\]")
#: How CLI 2.1.197 wraps a message sent while a tool ran (a ``system`` message).
INJECTED_PREFIX = "The user sent a new message while you were working:"
INJECTED_SUFFIX = "\n\nIMPORTANT:"


def text(words: str) -> Block:
    """A text content block."""
    return {"type": "text", "text": words}


def tool(name: str, tool_input: dict[str, Any], tool_id: str | None = None) -> Block:
    """A tool_use content block (the id is made up unless given)."""
    return {
        "type": "tool_use",
        "id": tool_id or f"toolu_{uuid.uuid4().hex[:24]}",
        "name": name,
        "input": tool_input,
    }


def bash(command: str, description: str = "scripted command") -> Block:
    """A Bash tool call; ``bash("sleep 10")`` holds the step open for ten seconds."""
    return tool("Bash", {"command": command, "description": description})


def mcp_tool(server: str, name: str, tool_input: dict[str, Any]) -> Block:
    """A call of tool ``name`` of MCP server ``server`` (the CLI names it ``mcp__server__name``)."""
    return tool(f"mcp__{server}__{name}", tool_input)


def block_text(content: Any) -> str:
    """All text inside a message's content (string, blocks, tool_result contents)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(block_text(item) for item in content)
    if isinstance(content, dict):
        if content.get("type") == "text":
            return str(content.get("text", ""))
        if content.get("type") == "tool_result":
            return block_text(content.get("content", ""))
    return ""


@dataclass(frozen=True)
class ModelRequest:
    """One request the CLI sent, with the questions tests and policies ask of it."""

    method: str
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    #: ``time.monotonic()`` when it arrived (for ordering against stdout events).
    at: float
    #: Position in the server's record (0 = first request it got).
    seq: int = 0

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))

    @property
    def messages(self) -> list[dict[str, Any]]:
        messages = self.body.get("messages", [])
        return messages if isinstance(messages, list) else []

    @property
    def tool_names(self) -> list[str]:
        return [str(t.get("name")) for t in self.body.get("tools", []) if isinstance(t, dict)]

    @property
    def is_messages_call(self) -> bool:
        return self.method == "POST" and self.path.split("?")[0] == "/v1/messages"

    @property
    def is_agent_call(self) -> bool:
        """The agent loop itself: a messages call offering tools (side calls offer none)."""
        return self.is_messages_call and bool(self.tool_names)

    @property
    def all_text(self) -> str:
        """Every text of the conversation and the system prompt, for ``contains``."""
        system = block_text(self.body.get("system", ""))
        return system + "\n" + "\n".join(block_text(m.get("content")) for m in self.messages)

    def contains(self, needle: str) -> bool:
        return needle in self.all_text

    def turn_start(self) -> int:
        """Index of the user message that began the current turn: one with words of the user.

        After an interrupt the CLI sends the next user words in the same message as
        the cut tool's result, so "has words" — not "has no tool result" — marks a turn.
        """
        for index in range(len(self.messages) - 1, -1, -1):
            message = self.messages[index]
            if message.get("role") == "user" and user_words(
                message.get("content"), skip_tool_results=True
            ):
                return index
        return 0

    @property
    def prompt(self) -> str:
        """The words that began this turn, without the CLI's own reminders."""
        if not self.messages:
            return ""
        return user_words(self.messages[self.turn_start()].get("content"), skip_tool_results=True)

    @property
    def injected(self) -> list[str]:
        """User messages the CLI injected mid-turn, oldest first.

        The CLI sends them as one ``system`` message per tool boundary; several
        messages queued during one tool are sections of that one message.
        """
        found = []
        for message in self.messages[self.turn_start() :]:
            words = block_text(message.get("content"))
            if message.get("role") == "system" and words.startswith(INJECTED_PREFIX):
                for section in words.split(INJECTED_PREFIX)[1:]:
                    found.append(section.split(INJECTED_SUFFIX)[0].strip())
        return found

    @property
    def last_user_text(self) -> str:
        """The newest words of the user: a message injected mid-turn, else the turn's prompt."""
        return (self.injected or [self.prompt])[-1]

    @property
    def tool_calls_this_turn(self) -> list[Block]:
        calls: list[Block] = []
        for message in self.messages[self.turn_start() :]:
            content = message.get("content")
            if message.get("role") == "assistant" and isinstance(content, list):
                calls += [b for b in content if isinstance(b, dict) and b.get("type") == "tool_use"]
        return calls

    @property
    def is_first_of_turn(self) -> bool:
        """No assistant message since the turn began (the CLI also sends ``system`` messages)."""
        later = self.messages[self.turn_start() + 1 :]
        return not any(m.get("role") == "assistant" for m in later)

    @property
    def last_tool_result(self) -> str:
        """Text of the newest tool result ('' when the last message carries none)."""
        users = [m for m in self.messages if m.get("role") == "user"]
        content = users[-1].get("content") if users else None
        if not isinstance(content, list):
            return ""
        results = [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
        return block_text(results[-1].get("content", "")) if results else ""


def _has_tool_result(content: Any) -> bool:
    return isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content
    )


def user_words(content: Any, *, skip_tool_results: bool = False) -> str:
    """Text blocks of a user message with the CLI's ``<system-reminder>`` parts removed."""
    if isinstance(content, str):
        return INTERRUPTED.sub("", REMINDER.sub("", content)).strip()
    parts: list[str] = []
    for item in content if isinstance(content, list) else []:
        if isinstance(item, dict) and item.get("type") == "tool_result" and skip_tool_results:
            continue
        words = INTERRUPTED.sub("", REMINDER.sub("", block_text(item))).strip()
        if words:
            parts.append(words)
    return "\n".join(parts)


def _directive_block(kind: str, argument: str) -> Block:
    if kind == "bash":
        return bash(argument)
    if kind == "ask":
        return mcp_tool("omakase", "ask_human", {"question": argument})
    name, _, raw = argument.partition(" ")
    return tool(name, json.loads(raw) if raw.strip() else {})


def scripted_policy(request: ModelRequest) -> list[Block]:
    """The default responder: tool directives of the turn's prompt in order, then an answer."""
    directives = DIRECTIVE.findall(request.prompt)
    calls = [(kind, arg.strip()) for kind, arg in directives if kind != "verdict"]
    done = len(request.tool_calls_this_turn)
    if done < len(calls):
        return [_directive_block(*calls[done])]
    clean_prompt = DIRECTIVE.sub("", request.prompt)
    if "APPROVE" in clean_prompt and "REQUEST_CHANGES" in clean_prompt:
        verdicts = [arg.strip() for kind, arg in directives if kind == "verdict"]
        verdict = verdicts[-1] if verdicts else "APPROVE"
        return [text(f"{verdict}\n\nReviewed the work (scripted reviewer).")]
    return [text(answer_text(request))]


def answer_text(request: ModelRequest) -> str:
    """'Done.' plus a quote of the user's newest words and of the last tool result."""
    said = request.last_user_text[:QUOTE_LIMIT]
    answer = f"Done. You said: {said}"
    if request.last_tool_result and not request.is_first_of_turn:
        answer += f"\nTool result: {request.last_tool_result[:QUOTE_LIMIT]}"
    return answer


@dataclass
class Rule:
    """When ``when`` holds, reply with ``reply``; at most ``times`` times (None: always)."""

    when: Predicate
    reply: Sequence[Block] | Responder
    times: int | None = 1
    fired: int = 0


class Rules:
    """An ordered rule list as a responder: the first live rule that matches answers.

    Requests that no rule matches go to ``fallback`` (``scripted_policy`` by default),
    so a test writes only the replies it cares about.
    """

    def __init__(self, *rules: Rule, fallback: Responder = scripted_policy) -> None:
        self.rules = list(rules)
        self.fallback = fallback
        self._lock = threading.Lock()

    def __call__(self, request: ModelRequest) -> list[Block]:
        with self._lock:
            for rule in self.rules:
                if (rule.times is None or rule.fired < rule.times) and rule.when(request):
                    rule.fired += 1
                    chosen = rule.reply
                    break
            else:
                chosen = self.fallback
        if callable(chosen):
            return chosen(request)
        # Fresh tool ids each time: the CLI pairs tool results with them.
        return [tool(b["name"], b["input"]) if b["type"] == "tool_use" else b for b in chosen]


def prompt_contains(needle: str) -> Predicate:
    """The turn's prompt contains ``needle``."""
    return lambda request: needle in request.prompt


def first_of_turn(request: ModelRequest) -> bool:
    return request.is_first_of_turn


def after_tool(name: str) -> Predicate:
    """The request carries the result of the newest call, which was of tool ``name``."""

    def check(request: ModelRequest) -> bool:
        calls = request.tool_calls_this_turn
        return bool(calls) and calls[-1].get("name") == name and not request.is_first_of_turn

    return check


def reply_with_tool_result(prefix: str = "The answer was: ") -> Responder:
    """A responder that answers with the text of the last tool result (e.g. ask_human's)."""
    return lambda request: [text(prefix + request.last_tool_result)]


#: Sample values for JSON-schema side answers, by property type.
SCHEMA_SAMPLES: dict[str, Any] = {
    "string": "Scripted",
    "boolean": False,
    "number": 0,
    "integer": 0,
    "array": [],
    "object": {},
}


def side_policy(request: ModelRequest) -> list[Block]:
    """A harmless answer for the CLI's own helper calls (no tools offered).

    Seen with CLI 2.1.197 when nonessential traffic is allowed: a session-title
    call asking for JSON ``{"title": …}`` through ``output_config.format``
    (``json_schema``). A schema gets a conforming object; anything else a short text.
    """
    output_format = request.body.get("output_config", {}).get("format") or {}
    schema = output_format.get("schema") if isinstance(output_format, dict) else None
    if isinstance(schema, dict):
        properties = schema.get("properties", {})
        answer = {
            name: SCHEMA_SAMPLES.get(str(properties.get(name, {}).get("type")), "Scripted")
            for name in schema.get("required", [])
        }
        return [text(json.dumps(answer))]
    return [text("Scripted side answer.")]
