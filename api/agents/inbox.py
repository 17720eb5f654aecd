"""The mid-step inbox: ``.omakase/inbox.md`` (for agents) and ``inbox.json`` (for scripts).

Why: between steps, messages reach the next step through its environment and
CLAUDE.md; but a step can run for many minutes, and a user who asks "stop, use
Postgres" wants the agent to see it now. The monitor loop rewrites these files
(at most one monitor interval after a message lands) with the messages that
arrived since the step started; CLAUDE.md tells the agent to read the inbox
between actions and how to reply. Text is fenced as untrusted user text.

Capped like the guidance section: one message is clipped at
``MAX_MESSAGE_CHARS_IN_INBOX`` and the files carry the newest messages whose
text fits ``MAX_INBOX_CHARS``; older ones are omitted with a note (the agent
can read the whole thread through the API). Without a cap a user, or a
script with the operator token, could grow the file an agent reads between
every action without bound.
"""

from __future__ import annotations

import json
from pathlib import Path

from api.agents.fence import fenced
from api.agents.guidance import TRUNCATED, write_atomically
from core.models import AgentMessage

INBOX_DIR = ".omakase"
INBOX_MARKDOWN = "inbox.md"
INBOX_JSON = "inbox.json"
#: Total characters of user text the inbox carries (older messages drop first).
MAX_INBOX_CHARS = 16_000
#: One message longer than this is cut (one paste cannot crowd out the rest).
MAX_MESSAGE_CHARS_IN_INBOX = 8_000


def _clip(message: AgentMessage) -> AgentMessage:
    if len(message.content) <= MAX_MESSAGE_CHARS_IN_INBOX:
        return message
    cut = message.content[: MAX_MESSAGE_CHARS_IN_INBOX - len(TRUNCATED)] + TRUNCATED
    return message.model_copy(update={"content": cut})


def select_for_inbox(messages: list[AgentMessage]) -> tuple[list[AgentMessage], int]:
    """The newest (clipped) messages that fit the cap, oldest first; and how many dropped."""
    kept: list[AgentMessage] = []
    total = 0
    for message in reversed(messages):
        clipped = _clip(message)
        if kept and total + len(clipped.content) > MAX_INBOX_CHARS:
            break
        kept.append(clipped)
        total += len(clipped.content)
    kept.reverse()
    return kept, len(messages) - len(kept)


def render_inbox(messages: list[AgentMessage]) -> str:
    kept, dropped = select_for_inbox(messages)
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
    if dropped:
        lines += [
            f"({dropped} older message{'s' if dropped > 1 else ''} omitted: cap. "
            "GET $OMAKASE_API_URL/api/agent-runs/$OMAKASE_RUN_ID/messages has them all.)",
            "",
        ]
    for message in kept:
        lines += [f"## {message.timestamp} · id {message.id}", fenced(message.content), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def inbox_records(messages: list[AgentMessage]) -> list[dict[str, str]]:
    return [
        {"id": m.id, "runId": m.run_id, "content": m.content, "timestamp": m.timestamp}
        for m in messages
    ]


def write_inbox(state: Path, messages: list[AgentMessage]) -> None:
    """Rewrite both inbox files in the step's state folder (``AgentHome.state``, outside the
    workspace); JSON first: a reader of the .md never sees newer JSON."""
    folder = state
    kept, _ = select_for_inbox(messages)
    write_atomically(folder / INBOX_JSON, json.dumps(inbox_records(kept), indent=2) + "\n")
    write_atomically(folder / INBOX_MARKDOWN, render_inbox(messages))
