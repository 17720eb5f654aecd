"""The codex runner, end to end over real HTTP with the real CLI: steer, interrupt, ask, cycle.

What is proven, from the store (over the API) and the scripted model's recorded
requests, never from timing:

* a message POSTed while a long command runs reaches the model's very next
  request in the same step; its receipt notices are exactly ``sent`` then
  ``delivered`` (channel ``live``, the run's id) — codex's own echo of our id;
* the agent's words reach the thread, its commands the logs ("▸ exec: …"), its
  tokens the run (no price: codex reports none);
* the person's sign-in is visible to the step read-only, codex's state stays out
  of the workspace, and the CLI runs from an installation under /tmp;
* ``interrupt`` cuts a long command and the message reaches the model at once;
  ``ask_human`` over MCP holds the turn (run ``waiting``) until the chat answers;
  a reviewer's REQUEST_CHANGES cycles and the pipeline passes.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.api.agents.codex.conftest import (
    CODEX_TEST_TIMEOUT_S,
    logs,
    notices,
    opening,
    post,
    role_turn,
    run_of,
    wait_long,
)
from tests.api.agents.conftest import Agents
from tests.support.fake_responses import FakeResponses
from tests.support.fake_responses_script import Rule, Rules, ask, say, shell

pytestmark = [pytest.mark.engine, pytest.mark.slow, pytest.mark.timeout(CODEX_TEST_TIMEOUT_S)]

ROLES = ("architect", "coder", "reviewer", "tester")
#: Run by every step of the first test: shows the sign-in, tries to change it.
AUTH_CHECK = (
    '[[bash: cat "$CODEX_HOME/auth.json"; (echo x >> "$CODEX_HOME/auth.json") 2>/dev/null'
    " || echo AUTH-READ-ONLY]]"
)


def test_a_steer_during_a_command_reaches_the_next_model_request_of_the_step(
    codex_agents: Agents, model: FakeResponses
) -> None:
    marker = "codex-steer"
    model.responder = Rules(Rule(opening("coder", marker), [shell("sleep 6")]))
    feature = codex_agents.new_feature(f"Add a login page. {AUTH_CHECK}", name=f"Login {marker}")
    coder = codex_agents.wait_active(feature, "coder")
    assert coder["live"] is True
    wait_long(lambda: run_of(codex_agents, coder["id"])["status"] == "coding", "the command")

    content = "Please store sessions in SQLite"
    message = post(codex_agents, coder["id"], content)
    # This process runs the live step: the POST itself stored it sent (no write before stdin).
    assert (message["mode"], message["receipt"]["state"]) == ("steer", "sent")
    wait_long(
        lambda: notices(codex_agents, coder["id"], message["id"]) == ["sent", "delivered"],
        "the agent's echo of the message",
    )

    # The very request after the command carried it, in the coder's own step.
    after = model.wait_for_request(
        lambda r: (
            role_turn("coder", marker)(r) and bool(r.calls_since_prompt or r.user_texts()[1:])
        ),
        timeout=30,
    )
    assert content in after.all_text
    assert "sleep 6" in after.all_text

    finished = codex_agents.wait_finished(feature)
    assert finished["status"] == "passing", finished
    runs = codex_agents.runs(feature)
    assert [(r["role"], r["status"]) for r in runs] == [(r, "completed") for r in ROLES]
    coder_run = next(r for r in runs if r["role"] == "coder")
    [stored] = [m for m in codex_agents.messages(coder["id"]) if m["id"] == message["id"]]
    receipt = stored["receipt"]
    assert (receipt["channel"], receipt["runId"], receipt["step"]) == ("live", coder["id"], 2)
    assert receipt["deliveredAt"] < coder_run["completedAt"]
    assert notices(codex_agents, coder["id"], message["id"]) == ["sent", "delivered"]
    said = [
        m["content"]
        for m in codex_agents.messages(coder["id"])
        if m["sender"] == "agent" and m["type"] == "message"
    ]
    assert any(content in words for words in said), said
    assert "▸ exec: sleep 6" in logs(codex_agents, coder["id"])
    usage = coder_run["usage"]
    assert usage["turns"] >= 1
    assert usage["inputTokens"] > 0
    assert usage["outputTokens"] > 0
    assert usage["costUsd"] == 0  # codex reports tokens, no price

    # The sign-in was readable and stayed read-only; nothing of codex's is in the workspace.
    architect = model.wait_for_request(
        lambda r: role_turn("architect", marker)(r) and "AUTH-READ-ONLY" in r.last_tool_output,
        timeout=5,
    )
    assert "the person's sign-in" in architect.last_tool_output
    workspace = codex_agents.workspaces / feature["id"]
    assert not (workspace / ".codex").exists()


def seconds_between(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def test_ask_then_interrupt_then_a_review_cycle(codex_agents: Agents, model: FakeResponses) -> None:
    marker = "codex-ask-interrupt"
    answered = lambda r: role_turn("coder", marker)(r) and "Postgres" in r.last_tool_output  # noqa: E731
    model.responder = Rules(
        Rule(opening("coder", marker), [ask("SQLite or Postgres?", ["SQLite", "Postgres"])]),
        Rule(answered, [shell("sleep 60")]),
        Rule(opening("reviewer", marker), [say("REQUEST_CHANGES\n\nAdd an index.")]),
    )
    feature = codex_agents.new_feature("Store the orders.", name=f"Orders {marker}")
    coder = codex_agents.wait_active(feature, "coder")

    # The question over MCP: in the thread, the run waiting; the chat's answer is the result.
    def asked() -> dict[str, object] | None:
        found = [m for m in codex_agents.messages(coder["id"]) if m["type"] == "question"]
        return found[0] if found else None

    shown = wait_long(asked, "the question in the thread")
    assert (shown["content"], shown["options"]) == ("SQLite or Postgres?", ["SQLite", "Postgres"])
    assert run_of(codex_agents, coder["id"])["status"] == "waiting"
    reply = post(codex_agents, coder["id"], "Postgres")
    assert reply["replyTo"] == shown["id"]
    model.wait_for_request(answered, timeout=60)

    # Interrupt the 60 s command: the message reaches the model at once, in the same step.
    wait_long(lambda: run_of(codex_agents, coder["id"])["status"] == "coding", "the command")
    message = post(codex_agents, coder["id"], "Stop that, use an index", mode="interrupt")
    reached = model.wait_for_text("Stop that, use an index", timeout=30)
    assert role_turn("coder", marker)(reached)
    wait_long(
        lambda: notices(codex_agents, coder["id"], message["id"]) == ["sent", "delivered"],
        "the interrupt message's echo",
    )

    finished = codex_agents.wait_finished(feature)
    assert finished["status"] == "passing", finished
    runs = codex_agents.runs(feature)
    assert [(r["role"], r["status"]) for r in runs] == [
        ("architect", "completed"),
        ("coder", "completed"),
        ("reviewer", "completed"),
        ("coder", "completed"),
        ("reviewer", "completed"),
        ("tester", "completed"),
    ]
    assert runs[2]["outputSummary"].startswith("Requested changes")
    first_coder = runs[1]
    assert first_coder["attempt"] == 1  # an interrupted turn is not a failure
    assert seconds_between(first_coder["startedAt"], first_coder["completedAt"]) < 60
    assert "▸ mcp__omakase__ask_human: SQLite or Postgres?" in logs(codex_agents, coder["id"])
