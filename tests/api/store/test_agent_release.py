"""An ending run blanks its agent only if the agent is still on that run (issue 13 item 8).

The agent item is per project and role, shared by every feature of the project:
with two features in progress, feature A's coder ending must not blank the
agent while feature B's coder runs.
"""

from __future__ import annotations

from api.store.agents import list_agents, release_agent, update_agent
from api.store.db import Db
from api.store.projects import create_project
from core.models import AgentRunRole, AgentStatus, ProjectCreate


def coder(db: Db, project_id: str) -> tuple[AgentStatus, str | None, str | None]:
    agent = next(a for a in list_agents(db, project_id=project_id) if a.role is AgentRunRole.CODER)
    return agent.status, agent.current_run_id, agent.current_feature_id


def test_an_ending_run_does_not_blank_another_runs_agent(db: Db) -> None:
    project = create_project(db, data=ProjectCreate(name="p"))
    for run_id, feature_id in (("run_a", "feat_a"), ("run_b", "feat_b")):
        update_agent(
            db,
            project_id=project.id,
            role=AgentRunRole.CODER,
            status=AgentStatus.RUNNING,
            current_run_id=run_id,
            current_feature_id=feature_id,
        )
    released = release_agent(
        db, project_id=project.id, role=AgentRunRole.CODER, run_id="run_a", status=AgentStatus.IDLE
    )
    assert released is None  # run_b holds the agent: nothing changed
    assert coder(db, project.id) == (AgentStatus.RUNNING, "run_b", "feat_b")
    mine = release_agent(
        db, project_id=project.id, role=AgentRunRole.CODER, run_id="run_b", status=AgentStatus.IDLE
    )
    assert mine is not None
    assert mine.last_run_id == "run_b"
    assert coder(db, project.id) == (AgentStatus.IDLE, None, None)
    # An agent nobody holds can be released (idempotent after a restart).
    again = release_agent(
        db,
        project_id=project.id,
        role=AgentRunRole.CODER,
        run_id="run_b",
        status=AgentStatus.STOPPED,
    )
    assert again is not None
    assert again.status is AgentStatus.STOPPED
