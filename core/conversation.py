"""A feature's conversation: its runs in pipeline order, and its history as Markdown.

Shared by the API (the feature stream, ``conversation.md``) and the dashboard.

Why one ordering: the feature stream's event ids are positions in this order
(``api.streaming.feature_ids``) and the dashboard draws a step divider per run in
it, so both must agree. The key follows creation: the pipeline numbers steps
upwards and retries a step with the next attempt; the start time and id only
break the tie of a step that a new pipeline owner re-ran after a crash (created
after the stale-claim timeout, so later by far more than any clock skew).
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from core.agents import persona
from core.models import (
    AgentMessage,
    AgentRun,
    DeliveryReceipt,
    Feature,
    MessageSender,
    MessageType,
    ReceiptState,
)


def run_order_key(run: AgentRun) -> tuple[int, int, str, str]:
    return run.step, run.attempt, run.started_at, run.id


def order_runs(runs: Iterable[AgentRun]) -> list[AgentRun]:
    """The runs oldest first, each once."""
    unique = {run.id: run for run in runs}
    return sorted(unique.values(), key=run_order_key)


# --- Markdown for a bug report or a PR body ---------------------------------------------

#: How a receipt's channel reads in a sentence.
CHANNEL_WORDS: dict[str, str] = {
    "live": "live, during its step",
    "relay": "at the start of its step",
    "inbox": "through the inbox, during its step",
    "mcp": "when the agent checked its messages",
}


def _quote(text: str) -> str:
    """Untrusted text as a Markdown blockquote: HTML escaped, every line quoted."""
    escaped = html.escape(text, quote=False)
    return "\n".join(f"> {line}" if line else ">" for line in escaped.splitlines() or [""])


def _time(timestamp: str | None) -> str:
    """``2026-11-30T18:00:01.123456Z`` → ``2026-11-30 18:00:01Z`` (second precision)."""
    if not timestamp:
        return "?"
    return timestamp[:10] + " " + timestamp[11:19] + "Z"


def describe_run(run: AgentRun) -> str:
    who = persona(run.role)
    retry = f", attempt {run.attempt}" if run.attempt > 1 else ""
    return f"Step {run.step} · {who.name} {who.mascot} {run.role.value}{retry}"


def _where(receipt: DeliveryReceipt | None, runs: dict[str, AgentRun]) -> str:
    """Where a user message went, as a sentence fragment."""
    if receipt is None or receipt.state is ReceiptState.QUEUED:
        return "not delivered yet (queued)"
    if receipt.state is ReceiptState.WITHDRAWN:
        return "withdrawn by the person before any agent received it"
    if receipt.state is ReceiptState.NOT_DELIVERED:
        return f"not delivered: {receipt.reason or 'no reason given'}"
    target = runs.get(receipt.run_id or "")
    to = describe_run(target) if target else f"run {receipt.run_id}"
    how = CHANNEL_WORDS.get(receipt.channel or "", receipt.channel or "")
    verb = "sent to" if receipt.state is ReceiptState.SENT else "delivered to"
    when = receipt.delivered_at or receipt.sent_at
    return f"{verb} {to}" + (f" {how}" if how else "") + (f" ({_time(when)})" if when else "")


def _message_lines(
    message: AgentMessage, runs: dict[str, AgentRun], *, answers: bool = False
) -> list[str]:
    when = _time(message.timestamp)
    if message.sender is MessageSender.USER:
        mode = f", {message.mode.value}" if message.mode else ""
        role = " (answer to the question above)" if answers else ""
        head = f"- {when} · **You**{mode}{role} — {_where(message.receipt, runs)}:"
    elif message.type in (MessageType.STATUS, MessageType.ERROR):
        mark = "⚠️ " if message.type is MessageType.ERROR else ""
        first = " ".join(message.content.split())
        return [f"- {when} · _{mark}{html.escape(first, quote=False)}_"]
    else:
        who = persona(message.role).name if message.role else "Agent"
        kind = " asks" if message.type is MessageType.QUESTION else ""
        head = f"- {when} · **{who}**{kind}:"
    lines = [head, "", _indent(_quote(message.content)), ""]
    if message.options:
        options = " · ".join(html.escape(o, quote=False) for o in message.options)
        lines[-1:] = [f"  Options: {options}", ""]
    return lines


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def feature_markdown(
    feature: Feature, runs: Iterable[AgentRun], messages: Iterable[AgentMessage]
) -> str:
    """The feature's conversation merged with its pipeline, as Markdown.

    For a bug report or a PR body: a header with the feature's outcome, one section
    per step (its status, times, and every message and notice of its thread, oldest
    first), then "Human guidance incorporated": each user message and where it was
    delivered. Message text is untrusted: quoted and HTML-escaped, never markup.
    """
    ordered = order_runs(runs)
    by_id = {run.id: run for run in ordered}
    threads: dict[str, list[AgentMessage]] = {run.id: [] for run in ordered}
    orphans: list[AgentMessage] = []
    for message in sorted(messages, key=lambda m: (m.run_id, m.cursor)):
        threads.get(message.run_id, orphans).append(message)
    out = [f"# {html.escape(' '.join(feature.name.split()), quote=False)}", ""]
    outcome = f"**{feature.status.value}**"
    if feature.error_message:
        outcome += f" — {html.escape(feature.error_message, quote=False)}"
    out += [f"Feature `{feature.id}` · {outcome} · {len(ordered)} step run(s)", ""]
    if feature.description:
        out += [_quote(feature.description), ""]
    out += ["## Timeline", ""]
    for run in ordered:
        ended = f" → {run.status.value} {_time(run.completed_at)}" if run.completed_at else ""
        out += [f"### {describe_run(run)}", ""]
        out += [f"Started {_time(run.started_at)}{ended} ({run.status.value}).", ""]
        if run.output_summary:
            out += [f"Summary: {html.escape(run.output_summary, quote=False)}", ""]
        asked = False
        for message in threads[run.id]:
            answers = asked and message.sender is MessageSender.USER
            out += _message_lines(message, by_id, answers=answers)
            if message.type is MessageType.QUESTION:
                asked = True
            elif message.type is MessageType.MESSAGE:
                asked = False
        out.append("")
    if orphans:
        out += ["### Messages of runs not listed", ""]
        for message in orphans:
            out += _message_lines(message, by_id)
    guidance = [
        m
        for run in ordered
        for m in threads[run.id]
        if m.sender is MessageSender.USER and m.type is MessageType.MESSAGE
    ]
    out += ["## Human guidance incorporated", ""]
    if not guidance:
        out += ["No messages from a person.", ""]
    for number, message in enumerate(guidance, start=1):
        origin = by_id[message.run_id]
        out += [
            f"{number}. Sent {_time(message.timestamp)} during {describe_run(origin)} — "
            f"{_where(message.receipt, by_id)}:",
            "",
            _indent(_quote(message.content)),
            "",
        ]
    return "\n".join(line.rstrip() for line in out).rstrip() + "\n"
