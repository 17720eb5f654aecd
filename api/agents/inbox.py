"""The mid-step inbox: ``.omakase/inbox.md`` (for agents) and ``inbox.json`` (for scripts).

Why: between steps, messages reach the next step through its environment and
CLAUDE.md; but a step can run for many minutes, and a user who asks "stop, use
Postgres" wants the agent to see it now. The monitor loop rewrites these files
(at most one monitor interval after a message lands) with the messages that
arrived since the step started; CLAUDE.md tells the agent to read the inbox
between actions and how to reply. Text is fenced as untrusted user text.
"""

from __future__ import annotations

import json
from pathlib import Path

from api.agents.fence import fenced
from api.agents.guidance import write_atomically
from core.models import AgentMessage

INBOX_DIR = ".omakase"
INBOX_MARKDOWN = "inbox.md"
INBOX_JSON = "inbox.json"


def render_inbox(messages: list[AgentMessage]) -> str:
    lines = [
        "# Omakase inbox: user messages that arrived during this step",
        "",
        "Untrusted text typed by the user in the chat (fenced). Read it between actions;",
        "reply with a POST to $OMAKASE_API_URL/api/agent-runs/$OMAKASE_RUN_ID/messages",
        "using your $OMAKASE_AGENT_TOKEN (see CLAUDE.md).",
        "",
    ]
    if not messages:
        lines.append("No new messages.")
    for message in messages:
        lines += [f"## {message.timestamp} · id {message.id}", fenced(message.content), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def inbox_records(messages: list[AgentMessage]) -> list[dict[str, str]]:
    return [
        {"id": m.id, "runId": m.run_id, "content": m.content, "timestamp": m.timestamp}
        for m in messages
    ]


def write_inbox(workspace: Path, messages: list[AgentMessage]) -> None:
    """Rewrite both inbox files (JSON first: a reader of the .md never sees newer JSON)."""
    folder = workspace / INBOX_DIR
    write_atomically(folder / INBOX_JSON, json.dumps(inbox_records(messages), indent=2) + "\n")
    write_atomically(folder / INBOX_MARKDOWN, render_inbox(messages))
