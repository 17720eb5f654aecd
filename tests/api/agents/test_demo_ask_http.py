"""The demo agent asks the person (``[ask-<role>]``), through the same route as the MCP server."""

from __future__ import annotations

from typing import Any

import pytest

from api.agents.demo_agent import DEMO_OPTIONS, DEMO_QUESTION
from tests.api.agents.conftest import Agents, wait_for

pytestmark = pytest.mark.engine


def waiting_question(agents: Agents, run_id: str) -> dict[str, Any] | None:
    questions = [m for m in agents.messages(run_id) if m["type"] == "question"]
    with agents.http as client:
        run = client.get(f"/api/agent-runs/{run_id}").json()
    return questions[0] if questions and run["status"] == "waiting" else None


def test_the_demo_architect_asks_takes_the_answer_and_the_pipeline_finishes(
    agents: Agents,
) -> None:
    feature = agents.new_feature("[ask-architect]", name="Order API")
    architect = agents.wait_active(feature, "architect")
    question = wait_for(lambda: waiting_question(agents, architect["id"]), "the question")
    assert (question["content"], question["options"]) == (DEMO_QUESTION, DEMO_OPTIONS)
    with agents.http as client:
        answer = client.post(
            f"/api/agent-runs/{architect['id']}/messages", json={"content": "Postgres"}
        ).json()
    assert answer["replyTo"] == question["id"]
    assert agents.wait_finished(feature)["status"] == "passing"

    thread = {m["id"]: m for m in agents.messages(architect["id"])}
    assert thread[question["id"]]["receipt"]["state"] == "delivered"
    assert thread[answer["id"]]["receipt"]["channel"] == "mcp"
    said = [
        m["content"] for m in thread.values() if m["sender"] == "agent" and m["type"] == "message"
    ]
    assert said == ["Thanks — going with “Postgres”."]  # no second "Got it" from the inbox
    [run] = [r for r in agents.runs(feature) if r["id"] == architect["id"]]
    assert run["status"] == "completed"
    assert run["waitingSeconds"] > 0
    assert agents.received(feature)["1-1"]["answer"]["id"] == answer["id"]


def test_nobody_answers_the_demo_agent_decides_and_carries_on(agents: Agents) -> None:
    feature = agents.new_feature("[ask-coder] [ask-seconds=0.5]", name="Order API")
    assert agents.wait_finished(feature)["status"] == "passing"
    coder = next(r for r in agents.runs(feature) if r["role"] == "coder")
    thread = agents.messages(coder["id"])
    [question] = [m for m in thread if m["type"] == "question"]
    assert question["receipt"]["state"] == "not_delivered"
    said = [m["content"] for m in thread if m["sender"] == "agent" and m["type"] == "message"]
    assert said == ["Nobody answered within 0.5 s; I'm going with SQLite for now."]
    notices = [m["content"] for m in thread if m["type"] == "status" and not m.get("receiptFor")]
    assert notices[-3:] == [
        "Waiting for your answer",
        "Started coding phase",
        "Nori completed step 2",
    ]


def test_cancel_while_the_agent_waits_ends_the_run_and_closes_the_question(
    agents: Agents,
) -> None:
    feature = agents.new_feature("[ask-architect]", name="Order API")
    architect = agents.wait_active(feature, "architect")
    question = wait_for(lambda: waiting_question(agents, architect["id"]), "the question")
    with agents.http as client:
        cancelled = client.post(f"/api/agent-runs/{architect['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert agents.wait_finished(feature)["status"] == "failing"

    def closed() -> dict[str, Any] | None:
        thread = {m["id"]: m for m in agents.messages(architect["id"])}
        return thread[question["id"]] if thread[question["id"]].get("receipt") else None

    receipt = wait_for(closed, "the question to close")["receipt"]
    assert (receipt["state"], receipt["reason"]) == ("not_delivered", "the run ended")
    [run] = [r for r in agents.runs(feature) if r["id"] == architect["id"]]
    assert (run["status"], run["errorMessage"]) == ("failed", "Cancelled by user")
    assert run.get("openQuestionId") is None
