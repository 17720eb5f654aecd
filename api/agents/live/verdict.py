"""A live step's verdict: how its end becomes an exit code the pipeline understands.

Why exit codes: the pipeline's rules (``api.agents.plan``) already speak them
(0 done, 2 the reviewer requests changes, anything else failed); mapping the
reviewer's words onto them keeps one rulebook for every runner. As in the
original Omakase, the reviewer's verdict is ``APPROVE`` / ``REQUEST_CHANGES`` /
``REJECT``, read from the first verdict line of ``review-report.md`` or else
from its final answer; the tester's last answer starts with ``PASS`` or ``FAIL``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from api.agents.plan import EXIT_APPROVE, EXIT_REQUEST_CHANGES
from core.models import AgentRunRole

REVIEW_REPORT = "review-report.md"
#: Any other code fails the step; this one says the reviewer rejected the feature.
EXIT_FAILED = 1
_VERDICT = re.compile(r"\b(REQUEST_CHANGES|APPROVE|REJECT)\b")
#: Largest part of the report read for the verdict.
MAX_REPORT_BYTES = 65_536


@dataclass(frozen=True, slots=True)
class Verdict:
    code: int
    #: Why the step failed (None when it did not).
    failure: str | None = None
    summary: str | None = None


def reviewer_word(workspace: Path, final_text: str) -> str | None:
    report = workspace / REVIEW_REPORT
    if report.is_file():
        with report.open("rb") as handle:
            text = handle.read(MAX_REPORT_BYTES).decode("utf-8", errors="replace")
        found = _VERDICT.search(text)
        if found:
            return found.group(1)
    words = _VERDICT.findall(final_text)
    return words[-1] if words else None


def step_verdict(
    role: AgentRunRole,
    *,
    exit_code: int,
    failure: str | None,
    final_text: str,
    workspace: Path,
    agent: str = "Claude Code",
) -> Verdict:
    if failure is not None:
        return Verdict(EXIT_FAILED, failure)
    if exit_code != 0:
        return Verdict(exit_code, f"{agent} exited with code {exit_code}")
    if role is AgentRunRole.REVIEWER:
        word = reviewer_word(workspace, final_text)
        if word == "APPROVE":
            return Verdict(EXIT_APPROVE)
        if word == "REQUEST_CHANGES":
            return Verdict(EXIT_REQUEST_CHANGES)
        if word == "REJECT":
            return Verdict(EXIT_FAILED, "The reviewer rejected the feature (REJECT)")
        return Verdict(
            EXIT_FAILED, "The reviewer gave no verdict (APPROVE, REQUEST_CHANGES or REJECT)"
        )
    if role is AgentRunRole.TESTER and final_text.strip().upper().startswith("FAIL"):
        first = final_text.strip().splitlines()[0][:300]
        return Verdict(EXIT_FAILED, f"The tester reported: {first}")
    return Verdict(EXIT_APPROVE)
