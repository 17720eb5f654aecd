"""Claude Code's ``stream-json`` output, one line at a time: what it means, how it reads.

Why typed events: the session decides on a handful of facts (a turn's text, a
tool call, the echo of a user message we sent, a turn's end and its cost); the
log viewer wants readable lines ("▸ Bash: npm test"), not JSON. Anything we do
not recognise is kept as a short raw line in the logs and otherwise ignored, so
a newer CLI that adds event types does not break a step.
"""

from __future__ import annotations

import json
from typing import Any

from api.agents.live.events import (
    SUCCESS_SUBTYPE,
    ControlResponse,
    Event,
    Init,
    Other,
    Replay,
    Text,
    ToolResult,
    ToolUse,
    TurnResult,
    log_lines,
)
from core.models import RunUsage

__all__ = ["Event", "Replay", "ToolUse", "TurnResult", "log_lines", "parse_line", "usage_of"]


def _tool_output(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        ]
        return "\n".join(parts)
    return "" if content is None else str(content)


def usage_of(raw: dict[str, Any]) -> RunUsage:
    usage = raw.get("usage") or {}
    return RunUsage(
        turns=int(raw.get("num_turns") or 0),
        input_tokens=int(usage.get("input_tokens") or 0),
        output_tokens=int(usage.get("output_tokens") or 0),
        cache_read_tokens=int(usage.get("cache_read_input_tokens") or 0),
        cache_creation_tokens=int(usage.get("cache_creation_input_tokens") or 0),
        cost_usd=float(raw.get("total_cost_usd") or 0.0),
    )


def _message_events(raw: dict[str, Any]) -> list[Event]:
    kind = raw.get("type")
    message = raw.get("message") or {}
    content = message.get("content")
    if kind == "user" and raw.get("isReplay"):
        return [Replay(uuid=str(raw.get("uuid", "")))]
    if not isinstance(content, list):
        return [Other(kind=str(kind))]
    events: list[Event] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        block_type = block.get("type")
        if kind == "assistant" and block_type == "text" and str(block.get("text", "")).strip():
            events.append(Text(text=str(block["text"])))
        elif kind == "assistant" and block_type == "tool_use":
            tool_input = block.get("input")
            events.append(
                ToolUse(
                    tool_id=str(block.get("id", "")),
                    name=str(block.get("name", "?")),
                    input=tool_input if isinstance(tool_input, dict) else {},
                )
            )
        elif kind == "user" and block_type == "tool_result":
            events.append(
                ToolResult(
                    tool_id=str(block.get("tool_use_id", "")),
                    output=_tool_output(block.get("content")),
                    is_error=bool(block.get("is_error")),
                )
            )
    return events or [Other(kind=str(kind))]


def parse_line(line: str) -> list[Event] | None:
    """The events of one stdout line; None when the line is not JSON (kept raw in the logs)."""
    try:
        raw = json.loads(line)
    except ValueError:
        return None
    if not isinstance(raw, dict):
        return None
    kind = raw.get("type")
    if kind == "system" and raw.get("subtype") == "init":
        servers = {
            str(s.get("name")): str(s.get("status"))
            for s in raw.get("mcp_servers") or []
            if isinstance(s, dict)
        }
        return [Init(session_id=str(raw.get("session_id", "")), mcp_servers=servers)]
    if kind in ("assistant", "user"):
        return _message_events(raw)
    if kind == "result":
        return [
            TurnResult(
                subtype=str(raw.get("subtype", "")),
                is_error=bool(raw.get("is_error")),
                text=str(raw.get("result") or ""),
                usage=usage_of(raw),
            )
        ]
    if kind == "control_response":
        response = raw.get("response") or {}
        return [
            ControlResponse(
                request_id=str(response.get("request_id", "")),
                ok=response.get("subtype") == SUCCESS_SUBTYPE,
            )
        ]
    return [Other(kind=f"{kind}/{raw.get('subtype')}" if raw.get("subtype") else str(kind))]
