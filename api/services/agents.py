"""The agents listing with unread counts and who waits for an answer, as the dashboard shows it."""

from __future__ import annotations

from api.store.agents import list_agents
from api.store.db import Db
from api.store.errors import NotFoundError
from api.store.messages import count_messages_after
from api.store.runs import get_run
from core.models import Agent, AgentRunStatus, MessageSender


def agents_with_unread(db: Db, *, project_id: str) -> list[Agent]:
    """Each agent, with the messages of its current (or last) run after the read marker.

    Messages the user sent are never unread; agent replies and notices are.
    ``waiting`` says its current run asked the person a question (the tab title,
    the navigation and the projects list count these).
    """
    agents = []
    for agent in list_agents(db, project_id=project_id):
        run_id = agent.current_run_id or agent.last_run_id
        if run_id is not None:
            try:
                run = get_run(db, run_id=run_id)
            except NotFoundError:
                run = None
            if run is not None:
                unread = count_messages_after(
                    db, run_id=run.id, after=run.read_cursor, exclude_sender=MessageSender.USER
                )
                waiting = run.id == agent.current_run_id and run.status is AgentRunStatus.WAITING
                agent = agent.model_copy(update={"unread_count": unread, "waiting": waiting})
        agents.append(agent)
    return agents
