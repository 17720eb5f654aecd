"""What the scripted OpenAI Responses API sees and says: a request view, output items, rules.

The codex counterpart of ``fake_model_script`` (which speaks Anthropic's shapes).
A responder gets a ``ResponsesRequest`` and returns the output items of one
model response: ``say`` (an assistant message), ``shell`` (codex's shell tool)
or ``call`` (any function, e.g. an MCP tool). ``codex_policy`` reads the same
directives as the claude one from the turn's words — ``[[bash: sleep 5]]``,
``[[ask: Which colour?]]``, ``[[verdict: REQUEST_CHANGES]]`` — so a pipeline test
drives a codex agent from the feature description alone.

Shapes (codex 0.171.0, observed): the request's ``input`` is the conversation as
items — ``message`` (role ``user`` / ``developer`` / ``assistant``, content parts
``input_text`` / ``output_text``), ``function_call`` and ``function_call_output``.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

Item = dict[str, Any]
Responder = Callable[["ResponsesRequest"], list[Item]]
Predicate = Callable[["ResponsesRequest"], bool]

#: How much of a user's text the default answer quotes.
QUOTE_LIMIT = 400
DIRECTIVE = re.compile(r"\[\[(bash|ask|tool|verdict):\s*(.*?)\]\]", re.DOTALL)
#: The shell tool codex 0.171.0 offers the model, and the name of our MCP question tool.
SHELL_TOOL = "exec_command"
MCP_NAMESPACE = "mcp__omakase"
ASK_TOOL = "ask_human"
#: Context codex adds as user messages itself (environment, AGENTS.md): not the user's words.
CODEX_CONTEXT = re.compile(
    r"^\s*(<(environment_context|user_instructions|turn_aborted)\b|# AGENTS\.md instructions)"
)


def say(words: str) -> Item:
    """An assistant message."""
    return {
        "type": "message",
        "role": "assistant",
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "status": "completed",
        "content": [{"type": "output_text", "text": words, "annotations": []}],
    }


def call(name: str, arguments: dict[str, Any], namespace: str | None = None) -> Item:
    """A function call (fresh ids each time: codex pairs the output with ``call_id``).

    codex offers MCP tools as a ``namespace`` tool (``mcp__<server>``) holding the
    server's functions: a call names the function and its namespace.
    """
    item = {
        "type": "function_call",
        "id": f"fc_{uuid.uuid4().hex[:24]}",
        "call_id": f"call_{uuid.uuid4().hex[:24]}",
        "name": name,
        "arguments": json.dumps(arguments),
        "status": "completed",
    }
    return {**item, "namespace": namespace} if namespace else item


def shell(command: str) -> Item:
    """codex's shell tool running ``command``."""
    return call(SHELL_TOOL, {"cmd": command})


def ask(question: str, options: list[str] | None = None) -> Item:
    """Our MCP server's ``ask_human``, as codex names it to the model."""
    arguments = {"question": question, **({"options": options} if options else {})}
    return call(ASK_TOOL, arguments, namespace=MCP_NAMESPACE)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


@dataclass(frozen=True)
class ResponsesRequest:
    """One ``POST /v1/responses`` codex sent."""

    path: str
    body: dict[str, Any]
    at: float
    seq: int = 0

    @property
    def items(self) -> list[Item]:
        found = self.body.get("input", [])
        return [i for i in found if isinstance(i, dict)] if isinstance(found, list) else []

    @property
    def tool_names(self) -> list[str]:
        names = []
        for tool in self.body.get("tools", []) or []:
            if isinstance(tool, dict):
                names.append(str(tool.get("name") or tool.get("type")))
        return names

    @property
    def all_text(self) -> str:
        parts = [str(self.body.get("instructions") or "")]
        for item in self.items:
            parts.append(_text_of(item.get("content")))
            parts.append(str(item.get("output") or ""))
            parts.append(str(item.get("arguments") or ""))
        return "\n".join(parts)

    def contains(self, needle: str) -> bool:
        return needle in self.all_text

    def user_texts(self) -> list[tuple[int, str]]:
        """(index, words) of each user message that holds the user's own words."""
        found = []
        for index, item in enumerate(self.items):
            if item.get("type") == "message" and item.get("role") == "user":
                words = _text_of(item.get("content")).strip()
                if words and not CODEX_CONTEXT.match(words):
                    found.append((index, words))
        return found

    @property
    def turn_start(self) -> int:
        """Index of the newest user message with words: it began the current turn,
        or was steered into it (then the calls before it are still this turn's)."""
        texts = self.user_texts()
        return texts[-1][0] if texts else 0

    @property
    def prompt(self) -> str:
        """The newest words of the user (the turn's prompt, or a message steered in)."""
        texts = self.user_texts()
        return texts[-1][1] if texts else ""

    @property
    def first_prompt(self) -> str:
        """The first words of the user in the thread (the role prompt)."""
        texts = self.user_texts()
        return texts[0][1] if texts else ""

    @property
    def calls_since_prompt(self) -> list[Item]:
        return [i for i in self.items[self.turn_start :] if i.get("type") == "function_call"]

    @property
    def is_first_after_words(self) -> bool:
        """Nothing of the model's since the user's newest words."""
        return not any(
            i.get("type") in ("function_call", "message") and i.get("role") != "user"
            for i in self.items[self.turn_start + 1 :]
        )

    @property
    def last_tool_output(self) -> str:
        outputs = [i for i in self.items if i.get("type") == "function_call_output"]
        if not outputs:
            return ""
        output = outputs[-1].get("output")
        return output if isinstance(output, str) else json.dumps(output)


def _directive_item(kind: str, argument: str) -> Item:
    if kind == "bash":
        return shell(argument)
    if kind == "ask":
        return ask(argument)
    name, _, raw = argument.partition(" ")
    return call(name, json.loads(raw) if raw.strip() else {})


def codex_policy(request: ResponsesRequest) -> list[Item]:
    """Directives of the user's newest words in order, one per request; then an answer."""
    words = request.prompt
    directives = DIRECTIVE.findall(words)
    calls = [(kind, arg.strip()) for kind, arg in directives if kind != "verdict"]
    done = len(request.calls_since_prompt)
    if done < len(calls):
        return [_directive_item(*calls[done])]
    clean = DIRECTIVE.sub("", words)
    if "APPROVE" in clean and "REQUEST_CHANGES" in clean:
        verdicts = [arg.strip() for kind, arg in directives if kind == "verdict"]
        verdict = verdicts[-1] if verdicts else "APPROVE"
        return [say(f"{verdict}\n\nReviewed the work (scripted reviewer).")]
    answer = f"Done. You said: {words[:QUOTE_LIMIT]}"
    if request.last_tool_output and not request.is_first_after_words:
        answer += f"\nTool result: {request.last_tool_output[:QUOTE_LIMIT]}"
    return [say(answer)]


@dataclass
class Rule:
    """When ``when`` holds, reply with ``reply``; at most ``times`` times (None: always)."""

    when: Predicate
    reply: Sequence[Item] | Responder
    times: int | None = 1
    fired: int = 0


class Rules:
    """An ordered rule list as a responder; unmatched requests go to ``fallback``."""

    def __init__(self, *rules: Rule, fallback: Responder = codex_policy) -> None:
        self.rules = list(rules)
        self.fallback = fallback
        self._lock = threading.Lock()

    def __call__(self, request: ResponsesRequest) -> list[Item]:
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
        # Fresh ids each time.
        return [
            call(i["name"], json.loads(i["arguments"]), i.get("namespace"))
            if i["type"] == "function_call"
            else i
            for i in chosen
        ]
