"""A feature's figures from its runs: cost so far, working time (waiting excluded), unread.

Pure functions (no Streamlit), shared by mission control and the chat header.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from core.models import Agent, AgentRun, utc_now

SECONDS_PER_MINUTE = 60
SECONDS_PER_HOUR = 3_600


def parse_time(timestamp: str) -> datetime | None:
    try:
        return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return None


def feature_cost(runs: Iterable[AgentRun]) -> float | None:
    """The sum of the runs' reported cost in USD; None when no run reported any.

    Runs whose agent reports no price (codex: tokens only) are not counted.
    """
    reported = [r.usage.cost_usd for r in runs if r.usage is not None and r.usage.priced]
    return round(sum(reported), 6) if reported else None


def unpriced_tokens(runs: Iterable[AgentRun]) -> int | None:
    """Tokens of the runs whose agent reported no price; None when there are none."""
    used = [
        r.usage.input_tokens + r.usage.output_tokens
        for r in runs
        if r.usage is not None and not r.usage.priced
    ]
    return sum(used) if used else None


def spend_text(runs: Iterable[AgentRun]) -> str | None:
    """What the runs cost, honestly: dollars where a price is known, tokens where not
    ("$0.12 + 35,000 tokens (no price known)"); None when nothing was reported."""
    runs = list(runs)
    cost, tokens = feature_cost(runs), unpriced_tokens(runs)
    parts = [format_cost(cost)] if cost is not None else []
    if tokens is not None:
        parts.append(f"{tokens:,} tokens (no price known)")
    return " + ".join(parts) or None


def run_elapsed(run: AgentRun, now: datetime) -> float:
    """Seconds the run worked: start to end (or now), minus its time waiting for the person."""
    start = parse_time(run.started_at)
    end = parse_time(run.completed_at) if run.completed_at else now
    if start is None or end is None:
        return 0.0
    waited = run.waiting_seconds or 0.0
    since = parse_time(run.waiting_since) if run.waiting_since else None
    if since is not None and run.completed_at is None:
        waited += max(0.0, (now - since).total_seconds())  # the question still open
    return max(0.0, (end - start).total_seconds() - waited)


def feature_elapsed(runs: Iterable[AgentRun], now: datetime | None = None) -> float:
    moment = now or utc_now()
    return sum(run_elapsed(run, moment) for run in runs)


def format_duration(seconds: float) -> str:
    whole = int(seconds)
    if whole < SECONDS_PER_MINUTE:
        return f"{whole}s"
    if whole < SECONDS_PER_HOUR:
        return f"{whole // SECONDS_PER_MINUTE}m {whole % SECONDS_PER_MINUTE:02d}s"
    return f"{whole // SECONDS_PER_HOUR}h {whole % SECONDS_PER_HOUR // SECONDS_PER_MINUTE:02d}m"


def format_cost(cost: float) -> str:
    return f"${cost:,.2f}" if cost >= 0.01 or cost == 0 else f"${cost:.4f}"


def unread_by_feature(agents: Iterable[Agent], runs: Mapping[str, AgentRun]) -> dict[str, int]:
    """Unread counts per feature: an agent's count goes to its current (or last) run's feature."""
    counts: dict[str, int] = {}
    for agent in agents:
        run = runs.get(agent.current_run_id or agent.last_run_id or "")
        feature_id = agent.current_feature_id or (run.feature_id if run else None)
        if feature_id and agent.unread_count:
            counts[feature_id] = counts.get(feature_id, 0) + agent.unread_count
    return counts
