"""A minimal stdio MCP server named ``omakase`` for the fake-model tests.

It answers ``ask_human`` at once with ``OMAKASE_TEST_ANSWER`` so a test can prove
the model → MCP tool → tool result → model path through the real CLI, without
the project's real question machinery (which has its own tests).
"""

from __future__ import annotations

import os

from mcp.server.mcpserver import MCPServer

server = MCPServer("omakase")


# structured_output=False: the model then gets the plain text. With the SDK's default a
# ``str`` return also goes out as structuredContent, and CLI 2.1.197 shows the model
# that instead: ``{"result":"…"}``.
@server.tool(structured_output=False)
def ask_human(question: str) -> str:
    """Ask the person a question and wait for the answer."""
    return os.environ.get("OMAKASE_TEST_ANSWER", "no answer") + f" (to: {question})"


if __name__ == "__main__":
    server.run("stdio")
