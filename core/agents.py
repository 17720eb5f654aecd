"""The four agent personas: one per pipeline role, the same in every project."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import AgentRunRole


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
