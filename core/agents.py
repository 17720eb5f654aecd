"""The four agent personas: one per pipeline role, the same in every project."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import AgentRun, AgentRunRole, AgentRunStatus

#: How a reviewer's run summary starts when it sent the work back to the coder
#: (api/agents/steps.py writes it; the dashboard reads it to say who is next).
REQUESTED_CHANGES_SUMMARY = "Requested changes"


@dataclass(frozen=True, slots=True)
class Persona:
    role: AgentRunRole
    name: str
    mascot: str
    #: Name of the STYLE.md colour token of the role badge.
    badge_token: str


PERSONAS: dict[AgentRunRole, Persona] = {
    AgentRunRole.ARCHITECT: Persona(AgentRunRole.ARCHITECT, "Miso", "🍜", "oma-indigo"),
    AgentRunRole.CODER: Persona(AgentRunRole.CODER, "Nori", "🍙", "oma-progress"),
    AgentRunRole.REVIEWER: Persona(AgentRunRole.REVIEWER, "Koji", "🍶", "oma-primary"),
    AgentRunRole.TESTER: Persona(AgentRunRole.TESTER, "Toro", "🍣", "oma-jade"),
}

#: The pipeline order of a feature.
PIPELINE_ROLES: tuple[AgentRunRole, ...] = (
    AgentRunRole.ARCHITECT,
    AgentRunRole.CODER,
    AgentRunRole.REVIEWER,
    AgentRunRole.TESTER,
)


def persona(role: AgentRunRole | str) -> Persona:
    return PERSONAS[AgentRunRole(role)]


def next_step(latest: AgentRun | None) -> tuple[AgentRunRole, int] | None:
    """Who runs next after ``latest`` (role and step), as the pipeline decides (api/agents/plan).

    A completed step hands over to the next role (a reviewer that requested changes,
    back to the coder); a step that did not complete runs again under the same number.
    None after the tester completed: no step follows.
    """
    if latest is None:
        return PIPELINE_ROLES[0], 1
    if latest.status is not AgentRunStatus.COMPLETED:
        return latest.role, latest.step
    summary = latest.output_summary or ""
    if latest.role is AgentRunRole.REVIEWER and summary.startswith(REQUESTED_CHANGES_SUMMARY):
        return AgentRunRole.CODER, latest.step + 1
    index = PIPELINE_ROLES.index(latest.role)
    if index == len(PIPELINE_ROLES) - 1:
        return None
    return PIPELINE_ROLES[index + 1], latest.step + 1
