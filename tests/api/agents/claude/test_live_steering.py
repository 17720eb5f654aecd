"""The claude runner, end to end over real HTTP with the real CLI: steer, interrupt, pipeline.

What is proven, each from the store (over the API) and the scripted model's
recorded requests, never from timing:

* a message POSTed while a 10 s tool runs reaches the model's next request in
  the same step; its receipt goes ``sent`` then ``delivered`` (channel ``live``,
  the run's id) before the step ends — the agent's own echo is the proof;
* the agent's words reach the thread as ``sender: agent`` messages, its tool
  calls reach the logs as readable lines, its cost reaches the run;
* ``interrupt`` cuts the running tool short, reaches the model, and the step
  still completes;
* the four-step pipeline passes, and a reviewer's REQUEST_CHANGES cycles.
"""

from __future__ import annotations

from typing import Any

import pygit2
import pytest

from tests.api.agents.claude.conftest import CLAUDE_TEST_TIMEOUT_S, first, role_turn, wait_long
from tests.api.agents.conftest import Agents
from tests.support.fake_model import FakeModel
from tests.support.fake_model_script import Rule, Rules, bash, text

pytestmark = [pytest.mark.engine, pytest.mark.slow, pytest.mark.timeout(CLAUDE_TEST_TIMEOUT_S)]

#: Every model request: the newest user words quoted (scripted_policy's answer).
ROLES = ("architect", "coder", "reviewer", "tester")


def message_by_id(agents: Agents, run_id: str, message_id: str) -> dict[str, Any] | None:
    return next((m for m in agents.messages(run_id) if m["id"] == message_id), None)


def receipt_state(agents: Agents, run_id: str, message_id: str) -> str | None:
    found = message_by_id(agents, run_id, message_id)
    return found["receipt"]["state"] if found and found.get("receipt") else None


def post(agents: Agents, run_id: str, content: str, **extra: Any) -> dict[str, Any]:
    with agents.http as client:
        response = client.post(
            f"/api/agent-runs/{run_id}/messages", json={"content": content, **extra}
        )
    assert response.status_code == 201, response.text
    return dict(response.json())


def logs(agents: Agents, run_id: str) -> list[str]:
    with agents.http as client:
        return [line["line"] for line in client.get(f"/api/agent-runs/{run_id}/logs").json()]


def test_a_message_during_a_tool_reaches_the_model_in_the_same_step(
    claude_agents: Agents, model: FakeModel
) -> None:
    marker = "steer-while-sleeping"
    work = "printf 'sessions in sqlite\\n' > sessions.txt; sleep 10"
    model.responder = Rules(Rule(first(role_turn("coder", marker)), [bash(work)]))
    feature = claude_agents.new_feature("Add a login page.", name=f"Login {marker}")
    coder = claude_agents.wait_active(feature, "coder")
    assert coder["live"] is True
    wait_long(lambda: coder_status(claude_agents, coder["id"]) == "coding", "the coder's tool")

    message = post(claude_agents, coder["id"], "Please store sessions in SQLite")
    assert message["mode"] == "steer"
    # This process runs the live step: the POST itself stored it sent (no write before stdin).
    assert (message["receipt"]["state"], message["receipt"]["channel"]) == ("sent", "live")

    states: list[str] = []

    def delivered() -> bool:
        state = receipt_state(claude_agents, coder["id"], message["id"])
        if state and (not states or states[-1] != state):
            states.append(state)
        return state == "delivered"

    wait_long(delivered, "the agent's echo of the message")
    stored = message_by_id(claude_agents, coder["id"], message["id"])
    assert stored is not None
    receipt = stored["receipt"]
    assert (receipt["channel"], receipt["runId"], receipt["step"]) == ("live", coder["id"], 2)
    assert receipt["sentAt"] <= receipt["deliveredAt"]
    # The notices carried every state, in order: sent before delivered.
    notices = [
        m["receipt"]["state"]
        for m in claude_agents.messages(coder["id"])
        if m.get("receiptFor") == message["id"]
    ]
    assert notices == ["sent", "delivered"]

    # The very request after the tool carried it, in the coder's own turn.
    reached = model.wait_for_text("Please store sessions in SQLite", timeout=30)
    assert role_turn("coder", marker)(reached)
    assert "Please store sessions in SQLite" in reached.injected

    finished = claude_agents.wait_finished(feature)
    assert finished["status"] == "passing", finished
    runs = claude_agents.runs(feature)
    assert [(r["role"], r["status"]) for r in runs] == [(r, "completed") for r in ROLES]
    coder_run = next(r for r in runs if r["role"] == "coder")
    # Delivered before the step ended.
    assert receipt["deliveredAt"] < coder_run["completedAt"]
    # The agent's own words, one message per turn, quoting what it was told.
    said = [
        m["content"]
        for m in claude_agents.messages(coder["id"])
        if m["sender"] == "agent" and m["type"] == "message"
    ]
    assert any("Please store sessions in SQLite" in words for words in said), said
    # Its tool call in the logs as a readable line; its cost on the run.
    assert f"▸ Bash: {work}" in logs(claude_agents, coder["id"])
    usage = coder_run["usage"]
    assert usage["turns"] >= 1
    assert usage["inputTokens"] > 0
    assert usage["outputTokens"] > 0
    # What the model's Bash wrote is the step's commit, which names the message it heard.
    head = coder_run["changes"]["head"]
    with claude_agents.http as client:
        diff = client.get(f"/api/agent-runs/{coder['id']}/diff").text
    assert "+++ b/sessions.txt" in diff
    assert "+sessions in sqlite" in diff
    committed = message_by_id(claude_agents, coder["id"], message["id"])
    assert committed is not None
    assert committed["receipt"]["commit"] == head
    repo = pygit2.Repository(str(claude_agents.workspaces / ".repos" / f"{feature['id']}.git"))
    made = repo.get(head)
    assert isinstance(made, pygit2.Commit)
    assert f"Omakase-Message: {message['id']}" in made.message
    assert made.author.name == "Nori (coder)"


def coder_status(agents: Agents, run_id: str) -> str:
    with agents.http as client:
        return str(client.get(f"/api/agent-runs/{run_id}").json()["status"])


def test_interrupt_cuts_the_running_tool_and_the_step_still_completes(
    claude_agents: Agents, model: FakeModel
) -> None:
    marker = "interrupt-a-long-tool"
    model.responder = Rules(Rule(first(role_turn("coder", marker)), [bash("sleep 45")]))
    feature = claude_agents.new_feature("Add search.", name=f"Search {marker}")
    coder = claude_agents.wait_active(feature, "coder")
    wait_long(lambda: coder_status(claude_agents, coder["id"]) == "coding", "the coder's tool")

    message = post(claude_agents, coder["id"], "Stop that, use Postgres", mode="interrupt")
    assert message["mode"] == "interrupt"
    reached = model.wait_for_text("Stop that, use Postgres", timeout=30)
    assert role_turn("coder", marker)(reached)
    assert (message["receipt"]["state"], message["receipt"]["channel"]) == ("sent", "live")
    wait_long(
        lambda: receipt_state(claude_agents, coder["id"], message["id"]) == "delivered",
        "the interrupt message's echo",
    )
    # The interrupt's receipt: delivered live to this run by the agent's echo, one notice each.
    stored = message_by_id(claude_agents, coder["id"], message["id"])
    assert stored is not None
    receipt = stored["receipt"]
    assert (receipt["channel"], receipt["runId"]) == ("live", coder["id"])
    assert receipt["sentAt"] <= receipt["deliveredAt"]
    notices = [
        m["receipt"]["state"]
        for m in claude_agents.messages(coder["id"])
        if m.get("receiptFor") == message["id"]
    ]
    assert notices == ["sent", "delivered"]

    finished = claude_agents.wait_finished(feature)
    assert finished["status"] == "passing", finished
    coder_run = next(r for r in claude_agents.runs(feature) if r["role"] == "coder")
    assert coder_run["status"] == "completed"
    assert coder_run["attempt"] == 1  # an interrupted turn is not a failure
    # The 45 s sleep was cut short: the step ended long before it could have finished.
    assert seconds_between(coder_run["startedAt"], coder_run["completedAt"]) < 45


def seconds_between(start: str, end: str) -> float:
    from datetime import datetime

    def parse(value: str) -> datetime:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))

    return (parse(end) - parse(start)).total_seconds()


def test_interrupt_to_a_runner_that_cannot_is_a_409(agents: Agents) -> None:
    feature = agents.new_feature("[await-message-coder]", name="Demo interrupt")
    coder = agents.wait_active(feature, "coder")
    with agents.http as client:
        response = client.post(
            f"/api/agent-runs/{coder['id']}/messages",
            json={"content": "stop", "mode": "interrupt"},
        )
        assert response.status_code == 409
        assert "cannot be interrupted" in response.json()["detail"]
        ok = client.post(f"/api/agent-runs/{coder['id']}/messages", json={"content": "go on"})
        assert ok.status_code == 201
    agents.wait_finished(feature)


def test_request_changes_sends_the_feature_back_through_coder_and_reviewer(
    claude_agents: Agents, model: FakeModel
) -> None:
    marker = "review-cycle"
    # Every request of the first review (step 3; a retried request gets the same answer).
    first_review = role_turn("reviewer", marker)
    model.responder = Rules(
        Rule(
            lambda request: first_review(request) and "step 3 of the pipeline" in request.all_text,
            [text("REQUEST_CHANGES\n\nThe form needs validation.")],
            times=None,
        )
    )
    feature = claude_agents.new_feature("Add a signup form.", name=f"Signup {marker}")
    finished = claude_agents.wait_finished(feature)
    assert finished["status"] == "passing", finished
    runs = claude_agents.runs(feature)
    assert [(r["step"], r["role"], r["status"]) for r in runs] == [
        (1, "architect", "completed"),
        (2, "coder", "completed"),
        (3, "reviewer", "completed"),
        (4, "coder", "completed"),
        (5, "reviewer", "completed"),
        (6, "tester", "completed"),
    ]
    assert runs[2]["outputSummary"].startswith("Requested changes")


def test_cancel_during_a_tool_ends_the_agent_and_its_children(
    claude_agents: Agents, model: FakeModel
) -> None:
    marker = "cancel-during-a-tool"
    model.responder = Rules(Rule(first(role_turn("coder", marker)), [bash("sleep 37.5")]))
    feature = claude_agents.new_feature("Add an export.", name=f"Export {marker}")
    coder = claude_agents.wait_active(feature, "coder")
    wait_long(lambda: sleeping("37.5"), "the coder's tool to run")
    with claude_agents.http as client:
        cancelled = client.post(f"/api/agent-runs/{coder['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    finished = claude_agents.wait_finished(feature)
    assert finished["status"] == "failing"
    coder_run = next(r for r in claude_agents.runs(feature) if r["role"] == "coder")
    assert coder_run["errorMessage"] == "Cancelled by user"
    wait_long(lambda: not sleeping("37.5"), "the tool's process to end")


def sleeping(seconds: str) -> bool:
    """A ``sleep <seconds>`` process exists on this machine (the agent's tool)."""
    import subprocess

    listing = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    return any(line.strip() == f"sleep {seconds}" for line in listing.stdout.splitlines())
