"""End to end over real HTTP: the demo runner through the whole pipeline, relay, retry, cancel.

Assertions come from the store (over the API) and from the files the demo agent
writes in its workspace (``.omakase/received-<step>-<attempt>.json``), never
from timing.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.agents.conftest import Agents, wait_for
from tests.support.sse import blocks, open_stream

pytestmark = pytest.mark.engine

EXPECTED_NOTICES = {
    "architect": [
        "Miso started step 1 (architect)",
        "Started thinking phase",
        "Miso completed step 1",
    ],
    "coder": [
        "Nori started step 2 (coder)",
        "Started thinking phase",
        "Started coding phase",
        "Nori completed step 2",
    ],
    "reviewer": [
        "Koji started step 3 (reviewer)",
        "Started thinking phase",
        "Started reviewing phase",
        "Koji completed step 3",
    ],
    "tester": [
        "Toro started step 4 (tester)",
        "Started thinking phase",
        "Started testing phase",
        "Toro completed step 4",
    ],
}


def status_notices(messages: list[dict[str, Any]]) -> list[str]:
    """The run's status notices (delivery receipts left out)."""
    return [m["content"] for m in messages if m["type"] == "status" and not m.get("receiptFor")]


def stream_closes(agents: Agents, run_id: str) -> list[dict[str, Any]]:
    with agents.http as client, open_stream(client, run_id) as response:
        assert response.status_code == 200
        seen: list[dict[str, Any]] = []
        for block in blocks(response):
            if block.event == "close":
                return seen
            if block.is_message:
                seen.append(block.json())
    raise AssertionError("the stream ended without a close event")


def test_a_feature_runs_all_steps_and_a_coder_message_reaches_the_reviewer(agents: Agents) -> None:
    feature = agents.new_feature("[await-message-coder]")
    coder = agents.wait_active(feature, "coder")
    with agents.http as client:
        posted = client.post(
            f"/api/agent-runs/{coder['id']}/messages",
            json={"content": "Please store sessions in SQLite ```not a fence```"},
        )
    assert posted.status_code == 201, posted.text
    message = posted.json()
    finished = agents.wait_finished(feature)
    assert finished["status"] == "passing"
    assert finished["errorMessage"] is None

    runs = agents.runs(feature)
    assert [(r["step"], r["role"], r["attempt"], r["status"]) for r in runs] == [
        (1, "architect", 1, "completed"),
        (2, "coder", 1, "completed"),
        (3, "reviewer", 1, "completed"),
        (4, "tester", 1, "completed"),
    ]
    by_role = {r["role"]: r for r in runs}

    # The reviewer got it in OMAKASE_USER_MESSAGES and in CLAUDE.md; the tester in CLAUDE.md.
    received = agents.received(feature)
    assert [m["id"] for m in received["2-1"]["inboxMessages"]] == [message["id"]]
    assert [m["id"] for m in received["3-1"]["userMessages"]] == [message["id"]]
    assert received["3-1"]["userMessages"][0]["content"] == message["content"]
    assert received["3-1"]["userMessages"][0]["runId"] == coder["id"]
    assert message["content"] in received["3-1"]["claudeSection"]
    assert "← NEWEST" in received["3-1"]["claudeSection"]
    assert received["4-1"]["userMessages"] == []
    assert message["content"] in received["4-1"]["claudeSection"]

    # The receipt: first delivery = the coder's inbox; one notice in the coder's thread.
    coder_thread = agents.messages(coder["id"])
    [stored] = [m for m in coder_thread if m["id"] == message["id"]]
    assert stored["receipt"]["state"] == "delivered"
    assert stored["receipt"]["channel"] == "inbox"
    assert (stored["receipt"]["runId"], stored["receipt"]["step"]) == (coder["id"], 2)
    notices = [m for m in coder_thread if m.get("receiptFor") == message["id"]]
    coder_head = next(r for r in runs if r["role"] == "coder")["changes"]["head"]
    assert [n["content"] for n in notices] == [
        "📬 Delivered to Nori (coder, step 2) via the inbox",
        f"📝 Went into commit {coder_head[:7]} (step 2, coder)",
    ]
    assert stored["receipt"]["commit"] == coder_head  # the commit the coder's step made
    assert notices[1]["receipt"] == stored["receipt"]
    assert notices[0]["receipt"] == stored["receipt"] | {"commit": None}

    # Replies: the coder mid-step, the reviewer after the relay.
    coder_replies = [m for m in coder_thread if m["sender"] == "agent" and m["type"] == "message"]
    assert len(coder_replies) == 1
    assert coder_replies[0]["content"].startswith("Got it — “Please store sessions in SQLite")
    assert coder_replies[0]["role"] == "coder"
    reviewer_replies = [
        m for m in agents.messages(by_role["reviewer"]["id"]) if m["type"] == "message"
    ]
    assert [m["sender"] for m in reviewer_replies] == ["agent"]

    # One status notice per transition, and every run's stream closes.
    for run in runs:
        assert status_notices(agents.messages(run["id"])) == EXPECTED_NOTICES[run["role"]]
        streamed = stream_closes(agents, run["id"])
        assert [m["id"] for m in streamed] == [m["id"] for m in agents.messages(run["id"])]

    # Logs reached the log store, tagged with the agent's name.
    with agents.http as client:
        lines = client.get(f"/api/agent-runs/{coder['id']}/logs").json()
        team = client.get(f"/api/projects/{feature['projectId']}/agents").json()
    assert {line["agentName"] for line in lines} == {"Nori"}
    assert any(line["line"].startswith("▶ step 2 (coder, attempt 1) started") for line in lines)
    assert any("new message in my inbox" in line["line"] for line in lines)
    assert any(line["line"].startswith("■ step 2 (coder) exit code 0") for line in lines)
    assert {a["name"]: a["status"] for a in team} == {
        "Miso": "idle",
        "Nori": "idle",
        "Koji": "idle",
        "Toro": "idle",
    }


def test_a_failed_step_is_retried_once(agents: Agents) -> None:
    feature = agents.new_feature("[fail-once-coder]")
    assert agents.wait_finished(feature)["status"] == "passing"
    runs = agents.runs(feature)
    assert [(r["role"], r["attempt"], r["status"]) for r in runs] == [
        ("architect", 1, "completed"),
        ("coder", 1, "failed"),
        ("coder", 2, "completed"),
        ("reviewer", 1, "completed"),
        ("tester", 1, "completed"),
    ]
    failed = runs[1]
    assert failed["errorMessage"] == (
        "The agent exited with code 1: Nori: deliberate failure (demo marker)"
    )
    errors = [m["content"] for m in agents.messages(failed["id"]) if m["type"] == "error"]
    assert errors == [
        "Nori failed: The agent exited with code 1: Nori: deliberate failure (demo marker)"
    ]
    assert (
        status_notices(agents.messages(runs[2]["id"]))[0]
        == "Nori started step 2 (coder, attempt 2)"
    )


def test_a_step_that_fails_twice_fails_the_feature(agents: Agents) -> None:
    feature = agents.new_feature("[fail-tester]")
    finished = agents.wait_finished(feature)
    assert finished["status"] == "failing"
    assert finished["errorMessage"] == (
        "Toro failed step 4 (tester) 2 times: The agent exited with code 1: "
        "Toro: deliberate failure (demo marker)"
    )
    runs = agents.runs(feature)
    assert [(r["role"], r["attempt"], r["status"]) for r in runs][-2:] == [
        ("tester", 1, "failed"),
        ("tester", 2, "failed"),
    ]


def test_request_changes_runs_coder_and_reviewer_once_more(agents: Agents) -> None:
    feature = agents.new_feature("[request-changes]")
    assert agents.wait_finished(feature)["status"] == "passing"
    runs = agents.runs(feature)
    assert [(r["step"], r["role"], r["status"]) for r in runs] == [
        (1, "architect", "completed"),
        (2, "coder", "completed"),
        (3, "reviewer", "completed"),
        (4, "coder", "completed"),
        (5, "reviewer", "completed"),
        (6, "tester", "completed"),
    ]
    assert runs[2]["outputSummary"] == "Requested changes (exit code 2); the coder revises."
    assert runs[4]["outputSummary"] is None


def test_cancel_stops_the_process_and_fails_the_feature(agents: Agents) -> None:
    feature = agents.new_feature("[hold-coder]")
    coder = agents.wait_active(feature, "coder")
    wait_for(lambda: "2-1" in agents.received(feature), "the coder process to start")
    with agents.http as client:
        cancelled = client.post(f"/api/agent-runs/{coder['id']}/cancel")
        again = client.post(f"/api/agent-runs/{coder['id']}/cancel")
        missing = client.post("/api/agent-runs/run_missing/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "failed"
    assert cancelled.json()["errorMessage"] == "Cancelled by user"
    assert again.status_code == 409
    assert again.json() == {"detail": f"Agent run {coder['id']} has already ended (failed)."}
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Agent run run_missing was not found."}

    finished = agents.wait_finished(feature)
    assert finished["status"] == "failing"
    assert finished["errorMessage"] == "Cancelled by user (Nori, step 2)."
    assert [(r["role"], r["attempt"]) for r in agents.runs(feature)] == [
        ("architect", 1),
        ("coder", 1),
    ]
    errors = [m["content"] for m in agents.messages(coder["id"]) if m["type"] == "error"]
    assert errors == ["Nori failed: Cancelled by user"]
    with agents.http as client:
        lines = client.get(f"/api/agent-runs/{coder['id']}/logs").json()
    assert any(line["line"].startswith("■ step 2 (coder) exit code") for line in lines)


def test_start_route_starts_a_feature_now(agents: Agents) -> None:
    blocker = agents.new_feature("[hold-architect]", name="Blocker")
    with agents.http as client:
        waiting = client.post(
            f"/api/projects/{blocker['projectId']}/features",
            json={"name": "Waits for the blocker", "dependencies": [blocker["id"]]},
        ).json()
        architect = agents.wait_active(blocker, "architect")
        assert client.get(f"/api/features/{waiting['id']}").json()["status"] == "pending"
        started = client.post(f"/api/features/{waiting['id']}/start")
        assert started.status_code == 202, started.text
        assert started.json()["status"] == "in_progress"
        twice = client.post(f"/api/features/{waiting['id']}/start")
        assert twice.status_code == 409
        assert twice.json() == {"detail": f"Feature {waiting['id']} is already in progress."}
        missing = client.post("/api/features/feat_missing/start")
        assert missing.status_code == 404
        assert missing.json() == {"detail": "Feature feat_missing was not found."}
        assert agents.wait_finished(waiting)["status"] == "passing"
        done = client.post(f"/api/features/{waiting['id']}/start")
        assert done.status_code == 409
        assert done.json() == {"detail": f"Feature {waiting['id']} has already finished (passing)."}
        client.post(f"/api/agent-runs/{architect['id']}/cancel")
    assert agents.wait_finished(blocker)["status"] == "failing"


def test_a_failing_dependency_fails_its_dependents(agents: Agents) -> None:
    first = agents.new_feature("[fail-architect]", name="First")
    with agents.http as client:
        second = client.post(
            f"/api/projects/{first['projectId']}/features",
            json={"name": "Second", "dependencies": [first["id"]]},
        ).json()
    assert agents.wait_finished(first)["status"] == "failing"
    finished = agents.wait_finished(second)
    assert finished["status"] == "failing"
    assert finished["errorMessage"] == "Dependency First failed, so this feature was not started."
    assert agents.runs(second) == []
