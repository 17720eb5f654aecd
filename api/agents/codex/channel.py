"""codex app-server's side of a live step: JSON-RPC requests out, typed events in.

Why a state machine: codex answers requests asynchronously on the same stdout
the notifications come on, and each step needs answers before the next one —
``initialize`` before ``thread/start``, the thread's id before ``turn/start``,
the running turn's id before ``turn/steer``. The log pump's thread reads every
line through ``parse``, which acts on the answers (sends the next request) and
turns the notifications into the shared events the session decides on:

* ``item/started`` of a ``userMessage`` whose ``clientId`` is ours → ``Replay``
  (the agent's own receipt, as Claude Code's ``--replay-user-messages``);
* ``agentMessage`` → ``Text``; ``commandExecution`` / ``fileChange`` /
  ``mcpToolCall`` → ``ToolUse`` and ``ToolResult`` ("▸ exec: npm test");
* ``turn/completed`` → ``TurnResult`` with the turn's token usage (codex reports
  no price: ``priced=False``).

The first turn waits until our MCP server has started (``mcpServer/startupStatus/
updated`` says ``ready`` or ``failed``): codex sends the first model request at
once, and a server still starting (a Python one takes seconds on a loaded
machine) would leave its tools out of that request — ``ask_human`` would be an
"unsupported call" (observed with 0.171.0).

A steer that arrives as a turn ends is refused by codex ("no active turn to
steer"); it is then sent again as ``turn/start`` with the same id, so no message
is lost between turns.
"""

from __future__ import annotations

import itertools
import json
import threading
from typing import Any

from api.agents.codex import protocol as rpc
from api.agents.live.channel import JsonLines, TransportClosedError
from api.agents.live.events import Event, Init, Other, Replay, Text, ToolResult, ToolUse, TurnResult
from core.models import RunUsage

AGENT_NAME = "Codex"
#: How we introduce ourselves in ``initialize``.
CLIENT_INFO: rpc.ClientInfo = {"name": "omakase", "version": "1"}
#: ``TurnResult.subtype`` of a completed turn (``ev.SUCCESS_SUBTYPE``).
COMPLETED = "success"


def _command_of(item: dict[str, Any]) -> str:
    """What the command does, as codex parsed it ("npm test"), else the raw command line."""
    actions = item.get("commandActions") or []
    parsed = [str(a.get("command")) for a in actions if isinstance(a, dict) and a.get("command")]
    return "; ".join(parsed) or str(item.get("command", ""))


def _mcp_output(item: dict[str, Any]) -> tuple[str, bool]:
    error = item.get("error")
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"]), True
    result = item.get("result") or {}
    content = result.get("content") if isinstance(result, dict) else None
    if isinstance(content, list):
        texts = [str(c.get("text", "")) for c in content if isinstance(c, dict)]
        return "\n".join(t for t in texts if t), False
    return ("" if result is None else json.dumps(result)), False


def item_events(method: str, item: dict[str, Any]) -> list[Event]:
    """The events of one ``item/started`` or ``item/completed`` notification."""
    kind, item_id = item.get("type"), str(item.get("id", ""))
    started = method == rpc.ITEM_STARTED
    if kind == rpc.USER_MESSAGE and started and item.get("clientId"):
        return [Replay(uuid=str(item["clientId"]))]
    if kind == rpc.AGENT_MESSAGE and not started and str(item.get("text", "")).strip():
        return [Text(text=str(item["text"]))]
    if kind == rpc.COMMAND_EXECUTION:
        if started:
            return [ToolUse(tool_id=item_id, name="exec", input={"command": _command_of(item)})]
        code = item.get("exitCode")
        failed = item.get("status") != "completed" or (code is not None and code != 0)
        output = str(item.get("aggregatedOutput") or "")
        return [ToolResult(tool_id=item_id, output=output, is_error=failed)]
    if kind == rpc.FILE_CHANGE:
        changes = [c for c in item.get("changes") or [] if isinstance(c, dict)]
        paths = ", ".join(str(c.get("path")) for c in changes)
        if started:
            return [ToolUse(tool_id=item_id, name="edit", input={"path": paths})]
        failed = item.get("status") != "completed"
        return [
            ToolResult(tool_id=item_id, output=f"{item.get('status')}: {paths}", is_error=failed)
        ]
    if kind == rpc.MCP_TOOL_CALL:
        if started:
            arguments = item.get("arguments")
            name = f"mcp__{item.get('server')}__{item.get('tool')}"
            tool_input = arguments if isinstance(arguments, dict) else {}
            return [ToolUse(tool_id=item_id, name=name, input=tool_input)]
        output, failed = _mcp_output(item)
        return [ToolResult(tool_id=item_id, output=output, is_error=failed)]
    return [Other(kind=f"{method}/{kind}")]


def usage_between(total: dict[str, Any], before: dict[str, Any]) -> RunUsage:
    """One turn's usage: codex reports the thread's running total (``TokenUsageBreakdown``)."""

    def grown(key: str) -> int:
        return max(0, int(total.get(key) or 0) - int(before.get(key) or 0))

    return RunUsage(
        turns=1,
        input_tokens=grown("inputTokens"),
        output_tokens=grown("outputTokens"),
        cache_read_tokens=grown("cachedInputTokens"),
        cache_creation_tokens=grown("cacheWriteInputTokens"),
        priced=False,  # codex reports tokens, never a price
    )


class CodexChannel:
    name = AGENT_NAME
    message_before_interrupt = False

    def __init__(self, lines: JsonLines, *, cwd: str, mcp_server: str | None = None) -> None:
        self._lines = lines
        self._cwd = cwd
        #: The MCP server the first turn waits for (None: start at once).
        self._mcp_pending = mcp_server
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        #: Request id → (method, params) until codex answers.
        self._pending: dict[int, tuple[str, Any]] = {}
        self._prompt = ""
        self._thread_id: str | None = None
        self._turn_id: str | None = None
        #: Steers waiting for the running turn's id; turn starts waiting for the thread.
        self._waiting: list[tuple[str, str, bool]] = []
        #: An interrupt was sent: the next message starts a turn rather than steering.
        self._restart = False
        self._turn_texts: list[str] = []
        self._usage_total: dict[str, Any] = {}
        self._usage_reported: dict[str, Any] = {}

    @property
    def closed(self) -> bool:
        return self._lines.closed

    def close(self) -> None:
        self._lines.close()

    # --- requests ----------------------------------------------------------------------

    def _request(self, method: str, params: Any) -> None:
        request_id = next(self._ids)
        with self._lock:
            self._pending[request_id] = (method, params)
        self._lines.send(rpc.request(request_id, method, params))

    def begin(self, prompt: str) -> None:
        self._prompt = prompt
        self._request(rpc.INITIALIZE, rpc.InitializeParams(clientInfo=CLIENT_INFO))

    def _start_turn(self, text: str, uuid: str | None) -> None:
        with self._lock:
            thread_id = self._thread_id
            if thread_id is None or self._mcp_pending is not None:
                self._waiting.append((text, uuid or "", True))
                return
        params = rpc.TurnStartParams(threadId=thread_id, input=rpc.text_input(text))
        if uuid:
            params["clientUserMessageId"] = uuid
        self._request(rpc.TURN_START, params)

    def _steer(self, text: str, uuid: str) -> None:
        with self._lock:
            thread_id, turn_id = self._thread_id, self._turn_id
            if thread_id is None or turn_id is None:
                self._waiting.append((text, uuid, False))
                return
        params = rpc.TurnSteerParams(
            threadId=thread_id,
            expectedTurnId=turn_id,
            input=rpc.text_input(text),
            clientUserMessageId=uuid,
        )
        self._request(rpc.TURN_STEER, params)

    def send_message(self, text: str, *, uuid: str, idle: bool) -> None:
        with self._lock:
            restart, self._restart = self._restart, False
        if idle or restart:
            self._start_turn(text, uuid)
        else:
            self._steer(text, uuid)

    def interrupt(self, tag: str) -> None:
        del tag  # JSON-RPC ids are ours; the tag is for the logs of other channels
        with self._lock:
            thread_id, turn_id = self._thread_id, self._turn_id
            if thread_id is None or turn_id is None:
                return
            self._restart = True
        self._request(
            rpc.TURN_INTERRUPT, rpc.TurnInterruptParams(threadId=thread_id, turnId=turn_id)
        )

    def _flush_waiting(self) -> None:
        with self._lock:
            ready = self._thread_id is not None and self._mcp_pending is None
            waiting, self._waiting = (self._waiting, []) if ready else ([], self._waiting)
        for text, uuid, start in waiting:
            if start:
                self._start_turn(text, uuid or None)
            else:
                self._steer(text, uuid)

    # --- lines in ----------------------------------------------------------------------

    def parse(self, line: str) -> list[Event] | None:
        try:
            message = json.loads(line)
        except ValueError:
            return None
        if not isinstance(message, dict):
            return None
        try:
            if "id" in message and "method" in message:  # a request of codex's: not served
                self._lines.send(rpc.error_response(message["id"], "not supported by omakase"))
                return [Other(kind=f"request {message['method']}")]
            if "id" in message:
                return self._answer(message)
            return self._notification(str(message.get("method")), message.get("params") or {})
        except TransportClosedError:
            return [Other(kind="closed")]

    def _answer(self, message: dict[str, Any]) -> list[Event]:
        with self._lock:
            method, params = self._pending.pop(message["id"], ("", None))
        error = message.get("error")
        result = message.get("result") or {}
        if error is not None:
            text = str(error.get("message", error)) if isinstance(error, dict) else str(error)
            if method == rpc.TURN_STEER:  # the turn ended meanwhile: start one with it
                self._start_turn(params["input"][0]["text"], params.get("clientUserMessageId"))
                return []
            if method == rpc.TURN_INTERRUPT:
                return []
            return [
                TurnResult(
                    subtype="error",
                    is_error=True,
                    text=f"{method}: {text}",
                    usage=RunUsage(priced=False),
                )
            ]
        if method == rpc.INITIALIZE:
            self._lines.send(rpc.notification(rpc.INITIALIZED))
            params = rpc.ThreadStartParams(
                cwd=self._cwd, approvalPolicy=rpc.APPROVAL_NEVER, sandbox=rpc.SANDBOX_OFF
            )
            self._request(rpc.THREAD_START, params)
        elif method == rpc.THREAD_START:
            with self._lock:
                self._thread_id = str(result["thread"]["id"])
                self._waiting.insert(0, (self._prompt, "", True))
                waits = self._mcp_pending is not None
            self._flush_waiting()
            # With an MCP server, the session line comes with its status (``_mcp_status``).
            return [] if waits else [Init(session_id=self._thread_id, agent=AGENT_NAME)]
        elif method == rpc.TURN_START:
            self._turn_began(str(result["turn"]["id"]))
        return []

    def _turn_began(self, turn_id: str) -> None:
        with self._lock:
            self._turn_id = turn_id
        self._flush_waiting()

    def _notification(self, method: str, params: dict[str, Any]) -> list[Event]:
        if method == rpc.TURN_STARTED:
            self._turn_began(str(params["turn"]["id"]))
            return []
        if method in (rpc.ITEM_STARTED, rpc.ITEM_COMPLETED):
            item = params.get("item") or {}
            events = item_events(method, item)
            if any(isinstance(e, Text) for e in events):
                with self._lock:
                    self._turn_texts.append(str(item["text"]))
            return events
        if method == rpc.MCP_STARTUP_STATUS:
            return self._mcp_status(params)
        if method == rpc.TOKEN_USAGE_UPDATED:
            total = (params.get("tokenUsage") or {}).get("total")
            if isinstance(total, dict):
                with self._lock:
                    self._usage_total = total
            return []
        if method == rpc.TURN_COMPLETED:
            return [self._turn_completed(params.get("turn") or {})]
        return [Other(kind=method)]

    def _mcp_status(self, params: dict[str, Any]) -> list[Event]:
        name, status = str(params.get("name")), str(params.get("status"))
        with self._lock:
            settled = name == self._mcp_pending and status in rpc.MCP_SETTLED
            if settled:
                self._mcp_pending = None
        if settled:
            self._flush_waiting()
            detail = f": {params['error']}" if params.get("error") else ""
            return [
                Init(
                    session_id=self._thread_id or "",
                    mcp_servers={name: status + detail},
                    agent=AGENT_NAME,
                )
            ]
        return []

    def _turn_completed(self, turn: dict[str, Any]) -> TurnResult:
        status = str(turn.get("status", ""))
        with self._lock:
            if self._turn_id == turn.get("id"):
                self._turn_id = None
            texts, self._turn_texts = self._turn_texts, []
            usage = usage_between(self._usage_total, self._usage_reported)
            self._usage_reported = self._usage_total
        error = turn.get("error")
        if status == "completed":
            return TurnResult(COMPLETED, False, texts[-1] if texts else "", usage)
        detail = str(error.get("message", "")) if isinstance(error, dict) else ""
        return TurnResult(status, status == "failed", detail, usage)
