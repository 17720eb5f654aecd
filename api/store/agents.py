"""The agents of a project: one item per role, updated as runs start and end."""

from __future__ import annotations

from contextlib import suppress

from api.store.codec import from_item, to_item, to_value
from api.store.conditions import AGENT_EXISTS, AGENT_IS_NEW
from api.store.db import Db, query_all
from api.store.errors import ConditionFailed, store_errors
from core.agents import PIPELINE_ROLES, persona
from core.models import Agent, AgentRunRole, AgentStatus, iso, utc_now
from core.tables import AGENTS


def create_agents(db: Db, *, project_id: str) -> list[Agent]:
    now = iso(utc_now())
    agents = [
        Agent(
            project_id=project_id,
            role=role,
            name=persona(role).name,
            mascot=persona(role).mascot,
            updated_at=now,
        )
        for role in PIPELINE_ROLES
    ]
    for agent in agents:
        # Already there is fine: creating agents is idempotent.
        with (
            suppress(ConditionFailed),
            store_errors(f"create agent {agent.name}"),
        ):
            db.client.put_item(
                TableName=db.table(AGENTS),
                Item=to_item(agent.model_dump(by_alias=True, exclude={"unread_count"})),
                ConditionExpression=AGENT_IS_NEW,
            )
    return agents


def list_agents(db: Db, *, project_id: str) -> list[Agent]:
    """The project's agents in pipeline order (unread counts are filled in by callers)."""
    items = query_all(
        db,
        action="list the agents",
        TableName=db.table(AGENTS),
        KeyConditionExpression="projectId = :p",
        ExpressionAttributeValues={":p": to_value(project_id)},
        ConsistentRead=True,
    )
    by_role = {Agent.model_validate(item).role: Agent.model_validate(item) for item in items}
    return [by_role[role] for role in PIPELINE_ROLES if role in by_role]


def update_agent(
    db: Db,
    *,
    project_id: str,
    role: AgentRunRole,
    status: AgentStatus,
    current_run_id: str | None,
    current_feature_id: str | None,
) -> Agent:
    """Set an agent's status and current run; the last run id follows the current one."""
    names = {"#status": "status", "#updated": "updatedAt", "#run": "currentRunId"}
    values = {":status": to_value(status.value), ":updated": to_value(iso(utc_now()))}
    sets = ["#status = :status", "#updated = :updated"]
    removes = []
    if current_run_id is None:
        removes.append("#run")
    else:
        names["#last"] = "lastRunId"
        values[":run"] = to_value(current_run_id)
        sets += ["#run = :run", "#last = :run"]
    names["#feature"] = "currentFeatureId"
    if current_feature_id is None:
        removes.append("#feature")
    else:
        values[":feature"] = to_value(current_feature_id)
        sets.append("#feature = :feature")
    expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
    with store_errors("update the agent"):
        raw = db.client.update_item(
            TableName=db.table(AGENTS),
            Key=to_item({"projectId": project_id, "role": role.value}),
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ConditionExpression=AGENT_EXISTS,
            ReturnValues="ALL_NEW",
        )["Attributes"]
    return Agent.model_validate(from_item(raw))


def release_agent(
    db: Db, *, project_id: str, role: AgentRunRole, run_id: str, status: AgentStatus
) -> Agent | None:
    """The run ended: its agent goes ``status`` with no current run — if still on this run.

    Why conditional: the agent item is shared by every feature of the project, so
    when feature A's step ends, feature B's step of the same role may already hold
    the agent; an unconditional update would blank B's state. Returns ``None``
    (nothing written) when another run holds the agent.
    """
    try:
        with store_errors("release the agent"):
            raw = db.client.update_item(
                TableName=db.table(AGENTS),
                Key=to_item({"projectId": project_id, "role": role.value}),
                UpdateExpression="SET #status = :status, #updated = :updated REMOVE #run, #feature",
                ConditionExpression=f"{AGENT_EXISTS} AND "
                "(attribute_not_exists(#run) OR #run = :mine)",
                ExpressionAttributeNames={
                    "#status": "status",
                    "#updated": "updatedAt",
                    "#run": "currentRunId",
                    "#feature": "currentFeatureId",
                },
                ExpressionAttributeValues={
                    ":status": to_value(status.value),
                    ":updated": to_value(iso(utc_now())),
                    ":mine": to_value(run_id),
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
    except ConditionFailed:
        return None
    return Agent.model_validate(from_item(raw))
