"""The parts of the ``codex app-server`` protocol the codex runner uses, typed.

Derived, not guessed: the field and method names below were read from the JSON
schema the pinned CLI writes itself —
``infra/codex/node_modules/.bin/codex app-server generate-json-schema --out DIR``
(codex 0.171.0; files ``v1/InitializeParams.json``, ``v2/ThreadStartParams.json``,
``v2/TurnStartParams.json``, ``v2/TurnSteerParams.json``,
``v2/TurnInterruptParams.json``, ``v2/ItemStartedNotification.json`` (``ThreadItem``),
``v2/TurnCompletedNotification.json`` (``Turn``, ``TurnStatus``, ``TurnError``),
``v2/ThreadTokenUsageUpdatedNotification.json`` (``TokenUsageBreakdown``),
``ServerNotification.json`` / ``ServerRequest.json`` for the method names and
``McpServerStatusUpdatedNotification``).
Regenerate and compare when the pinned version changes.

The wire is JSON-RPC 2.0 without the ``"jsonrpc"`` member, one object a line.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

# --- client requests (what we send) -----------------------------------------------------

INITIALIZE = "initialize"
INITIALIZED = "initialized"  # a notification (no id)
THREAD_START = "thread/start"
TURN_START = "turn/start"
TURN_STEER = "turn/steer"
TURN_INTERRUPT = "turn/interrupt"

# --- server notifications (what we read) ------------------------------------------------

THREAD_STARTED = "thread/started"
TURN_STARTED = "turn/started"
TURN_COMPLETED = "turn/completed"
ITEM_STARTED = "item/started"
ITEM_COMPLETED = "item/completed"
TOKEN_USAGE_UPDATED = "thread/tokenUsage/updated"  # noqa: S105 (a method name)
ERROR = "error"
#: ``McpServerStatusUpdatedNotification`` {name, status: McpServerStartupState, error}.
MCP_STARTUP_STATUS = "mcpServer/startupStatus/updated"
#: ``McpServerStartupState`` values after which the server's fate is known.
MCP_SETTLED = frozenset({"ready", "failed", "cancelled"})

#: ``ThreadItem.type`` values the runner reads.
USER_MESSAGE = "userMessage"
AGENT_MESSAGE = "agentMessage"
COMMAND_EXECUTION = "commandExecution"
FILE_CHANGE = "fileChange"
MCP_TOOL_CALL = "mcpToolCall"

#: ``TurnStatus``.
TurnStatus = Literal["completed", "interrupted", "failed", "inProgress"]
#: ``SandboxMode`` / ``AskForApproval`` values we send (see docs/AGENTS.md "Codex").
SANDBOX_OFF = "danger-full-access"
APPROVAL_NEVER = "never"
#: JSON-RPC "method not found": our answer to a server request we do not serve.
METHOD_NOT_FOUND = -32601


class TextInput(TypedDict):
    """``UserInput`` of type ``text``."""

    type: Literal["text"]
    text: str


class ClientInfo(TypedDict):
    name: str
    version: str


class InitializeParams(TypedDict):
    clientInfo: ClientInfo


class ThreadStartParams(TypedDict):
    cwd: str
    approvalPolicy: str
    sandbox: str


class TurnStartParams(TypedDict):
    threadId: str
    input: list[TextInput]
    clientUserMessageId: NotRequired[str]


class TurnSteerParams(TypedDict):
    threadId: str
    expectedTurnId: str
    input: list[TextInput]
    clientUserMessageId: NotRequired[str]


class TurnInterruptParams(TypedDict):
    threadId: str
    turnId: str


class TokenUsageBreakdown(TypedDict):
    inputTokens: int
    cachedInputTokens: int
    outputTokens: int
    reasoningOutputTokens: int
    totalTokens: int


def text_input(text: str) -> list[TextInput]:
    return [{"type": "text", "text": text}]


def request(request_id: int, method: str, params: Any) -> dict[str, Any]:
    return {"id": request_id, "method": method, "params": params}


def notification(method: str) -> dict[str, Any]:
    return {"method": method}


def error_response(request_id: Any, message: str) -> dict[str, Any]:
    return {"id": request_id, "error": {"code": METHOD_NOT_FOUND, "message": message}}
