"""A minimal MCP server over stdio: the handshake, ``tools/list`` and ``tools/call``, nothing else.

Why not the ``mcp`` SDK's server: importing it costs ~0.5 s of CPU (its
protocol types are built at import), and the agent CLI waits for this server
before its first model request (``MCP_CONNECTION_NONBLOCKING=0``, so the tools
are in that request: docs/CLAUDE_STREAM.md). On a busy 2-core machine that half
second became 2 s of every claude step's start (``bench/step_start.py``). The
three tools need only the handshake-era subset of the protocol (JSON-RPC 2.0,
one message per line): ``initialize`` (+ ``notifications/initialized``),
``ping``, ``tools/list`` and ``tools/call``; anything else is "method not
found", which also makes a client probing the newer ``server/discover`` fall
back to ``initialize``. Proven against the SDK's own client and the real CLI
(tests/api/agents/test_mcp_server.py, test_mcp_claude.py).

Each ``tools/call`` runs in its own thread (``ask_human`` may wait minutes while
``send_message`` answers at once); replies are written whole, one at a time.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

log = logging.getLogger(__name__)

#: Handshake-era revisions this subset speaks identically; a client asking for one gets it.
PROTOCOL_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
PARSE_ERROR = -32700


class ToolError(Exception):
    """A failure the model should read: the call answers ``isError`` with this text."""


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    input_schema: dict[str, Any]
    #: Called with the call's ``arguments``; returns the text the model gets.
    run: Callable[[dict[str, Any]], str]

    def listing(self) -> dict[str, Any]:
        schema = self.input_schema
        return {"name": self.name, "description": self.description, "inputSchema": schema}


class StdioServer:
    def __init__(self, name: str, version: str, *, instructions: str, tools: list[Tool]) -> None:
        self._info = {"name": name, "version": version}
        self._instructions = instructions
        self._tools = {tool.name: tool for tool in tools}
        self._write_lock = threading.Lock()
        self._calls: list[threading.Thread] = []

    def serve(self, stdin: IO[bytes], stdout: IO[bytes]) -> None:
        """Answer requests until stdin closes, then wait for the calls still running."""
        for raw in stdin:
            if not raw.strip():
                continue
            try:
                message = json.loads(raw)
            except ValueError:
                self._send(stdout, {"id": None, "error": _error(PARSE_ERROR, "Parse error")})
                continue
            if isinstance(message, dict):
                self._dispatch(message, stdout)
        for thread in self._calls:
            thread.join()

    def _dispatch(self, message: dict[str, Any], stdout: IO[bytes]) -> None:
        method, request_id = message.get("method"), message.get("id")
        if request_id is None or not isinstance(method, str):
            return  # a notification (initialized, cancelled, …) or a reply: nothing to answer
        params = message.get("params") or {}
        if method == "tools/call":
            thread = threading.Thread(
                target=self._call, args=(request_id, params, stdout), daemon=True
            )
            self._calls = [t for t in self._calls if t.is_alive()] + [thread]
            thread.start()
        elif method == "initialize":
            asked = params.get("protocolVersion")
            version = asked if asked in PROTOCOL_VERSIONS else PROTOCOL_VERSIONS[-1]
            result = {
                "protocolVersion": version,
                "capabilities": {"tools": {"listChanged": False}},
                "serverInfo": self._info,
                "instructions": self._instructions,
            }
            self._send(stdout, {"id": request_id, "result": result})
        elif method == "ping":
            self._send(stdout, {"id": request_id, "result": {}})
        elif method == "tools/list":
            tools = [tool.listing() for tool in self._tools.values()]
            self._send(stdout, {"id": request_id, "result": {"tools": tools}})
        else:
            reply = {"id": request_id, "error": _error(METHOD_NOT_FOUND, f"No method {method}")}
            self._send(stdout, reply)

    def _call(self, request_id: Any, params: dict[str, Any], stdout: IO[bytes]) -> None:
        tool = self._tools.get(str(params.get("name")))
        if tool is None:
            error = _error(INVALID_PARAMS, f"Unknown tool: {params.get('name')}")
            self._send(stdout, {"id": request_id, "error": error})
            return
        arguments = params.get("arguments") or {}
        try:
            text, is_error = tool.run(arguments if isinstance(arguments, dict) else {}), False
        except ToolError as error:
            text, is_error = str(error), True
        except Exception:  # a crash: the model learns only that the tool failed
            log.exception("tool %s failed", tool.name)
            text, is_error = f"Error executing tool {tool.name}", True
        result = {"content": [{"type": "text", "text": text}], "isError": is_error}
        self._send(stdout, {"id": request_id, "result": result})

    def _send(self, stdout: IO[bytes], message: dict[str, Any]) -> None:
        line = json.dumps({"jsonrpc": "2.0", **message}, ensure_ascii=False) + "\n"
        with self._write_lock:
            stdout.write(line.encode())
            stdout.flush()


def _error(code: int, text: str) -> dict[str, Any]:
    return {"code": code, "message": text}
