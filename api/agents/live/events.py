"""What a live agent did, in the terms the session decides on: shared by every live runner.

Why shared types: Claude Code's stream-json lines and codex app-server's
notifications say the same few things (a turn's text, a tool call and its
result, the echo of a user message we sent, a turn's end and its usage). Each
runner parses its own wire format into these events; ``LiveSession`` decides on
them and the log viewer reads them as lines ("▸ exec: npm test"), not JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.models import RunUsage

#: Tool output lines quoted in the logs per tool call (the rest is elided).
TOOL_OUTPUT_LOG_LINES = 6
#: Longest single log line we write for a tool call or its output.
MAX_LOG_LINE_CHARS = 300
#: ``result`` subtypes that are a successful turn.
SUCCESS_SUBTYPE = "success"


@dataclass(frozen=True, slots=True)
class Init:
    session_id: str
    mcp_servers: dict[str, str] = field(default_factory=dict)
    agent: str = "Claude Code"


@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class ToolUse:
    tool_id: str
    name: str
    input: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolResult:
    tool_id: str
    output: str
    is_error: bool


@dataclass(frozen=True, slots=True)
class Replay:
    """The CLI took a user message of ours into the conversation (``--replay-user-messages``)."""

    uuid: str


@dataclass(frozen=True, slots=True)
class TurnResult:
    subtype: str
    is_error: bool
    text: str
    usage: RunUsage

    @property
    def ok(self) -> bool:
        return self.subtype == SUCCESS_SUBTYPE and not self.is_error


@dataclass(frozen=True, slots=True)
class ControlResponse:
    request_id: str
    ok: bool


@dataclass(frozen=True, slots=True)
class Other:
    kind: str


Event = Init | Text | ToolUse | ToolResult | Replay | TurnResult | ControlResponse | Other


def _clip(text: str, limit: int = MAX_LOG_LINE_CHARS) -> str:
    text = text.replace("\r", "")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_tool(name: str, tool_input: dict[str, Any]) -> str:
    """The one-line summary of a tool call: its most telling argument."""
    for key in ("command", "file_path", "path", "pattern", "url", "question", "text"):
        value = tool_input.get(key)
        if isinstance(value, str) and value.strip():
            first = value.strip().splitlines()[0]
            return f"{name}: {first}"
    return name


def log_lines(event: Event) -> list[str]:
    """How an event reads in the log viewer."""
    if isinstance(event, Init):
        servers = ", ".join(f"{n} ({s})" for n, s in event.mcp_servers.items()) or "none"
        return [f"⚙ {event.agent} session {event.session_id} (MCP servers: {servers})"]
    if isinstance(event, Text):
        return [_clip(f"💬 {line}") for line in event.text.splitlines() if line.strip()]
    if isinstance(event, ToolUse):
        return [_clip(f"▸ {describe_tool(event.name, event.input)}")]
    if isinstance(event, ToolResult):
        lines = [line for line in event.output.splitlines() if line.strip()]
        mark = "  ✗ " if event.is_error else "  │ "
        shown = [_clip(mark + line) for line in lines[:TOOL_OUTPUT_LOG_LINES]]
        if len(lines) > TOOL_OUTPUT_LOG_LINES:
            shown.append(f"  │ … {len(lines) - TOOL_OUTPUT_LOG_LINES} more line(s)")
        return shown or [mark + "(no output)"]
    if isinstance(event, Replay):
        return []
    if isinstance(event, TurnResult):
        usage = event.usage
        cost = f"${usage.cost_usd:.4f}" if usage.priced else "no price known"
        return [
            f"■ turn ended: {event.subtype} · {usage.input_tokens} in / "
            f"{usage.output_tokens} out tokens · {cost}"
        ]
    if isinstance(event, ControlResponse):
        return [f"⚙ control {event.request_id}: {'ok' if event.ok else 'refused'}"]
    return []
