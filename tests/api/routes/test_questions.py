"""Question and check routes over moto: ask, answer, expire, check_messages; codes and sentences."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.store.db import Db
from api.store.runs import get_run
from core.models import MAX_MESSAGE_CHARS, AgentRun, AgentRunRole, AgentRunStatus
from tests.api.routes.test_messages import agent_auth, make_run, url
from tests.conftest import AUTH


def ask(client: TestClient, run: AgentRun, **body: Any) -> Any:
    return client.post(url(run, "/questions"), json=body, headers=agent_auth(client, run.id))


def thread(client: TestClient, run: AgentRun) -> list[dict[str, Any]]:
    return list(client.get(url(run), headers=AUTH).json())


def test_ask_stores_a_question_and_sets_the_run_waiting(client: TestClient, moto_db: Db) -> None:
    run = make_run(client, moto_db)
    response = ask(client, run, question="SQLite or Postgres?", options=["SQLite", "Postgres"])
    assert response.status_code == 201, response.text
    question = response.json()
    assert (question["sender"], question["type"], question["role"]) == (
        "agent",
        "question",
        "coder",
    )
    assert question["options"] == ["SQLite", "Postgres"]
    stored = get_run(moto_db, run_id=run.id)
    assert stored.status is AgentRunStatus.WAITING
    assert stored.open_question_id == question["id"]
    assert [m["content"] for m in thread(client, run)] == [
        "SQLite or Postgres?",
        "Waiting for your answer",
    ]


def test_a_retry_with_the_same_id_stores_one_question(client: TestClient, moto_db: Db) -> None:
    run = make_run(client, moto_db)
    first = ask(client, run, question="Which port?", id="q-1")
    again = ask(client, run, question="Which port?", id="q-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert [m["type"] for m in thread(client, run)] == ["question", "status"]


def test_a_second_open_question_is_409_and_stores_nothing(client: TestClient, moto_db: Db) -> None:
    run = make_run(client, moto_db)
    first = ask(client, run, question="One?").json()
    second = ask(client, run, question="Two?")
    assert second.status_code == 409
    assert second.json() == {
        "detail": f"Agent run {run.id} already waits for an answer to question {first['id']}; "
        "ask one question at a time."
    }
    assert [m["content"] for m in thread(client, run) if m["type"] == "question"] == ["One?"]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"question": "   "}, "The question must not be empty or only whitespace"),
        (
            {"question": "x" * (MAX_MESSAGE_CHARS + 1)},
            f"The question is {MAX_MESSAGE_CHARS + 1:,} characters; the limit is "
            f"{MAX_MESSAGE_CHARS:,}",
        ),
        ({"question": "Q?", "options": list("abcdefg")}, "7 options given; offer at most 6"),
        ({"question": "Q?", "options": ["x" * 81]}, "each option must be one line of 1 to 80"),
        ({"question": "Q?", "options": ["a\nb"]}, "each option must be one line"),
        ({"question": "Q?", "options": ["", "b"]}, "each option must be one line"),
        ({"question": "Q?", "options": ["a", " a "]}, "the options must differ"),
        ({"question": "Q?", "options": "SQLite"}, "Invalid body field 'options'"),
    ],
)
def test_bad_questions_are_422_and_nothing_is_stored(
    client: TestClient, moto_db: Db, body: dict[str, Any], detail: str
) -> None:
    run = make_run(client, moto_db)
    response = ask(client, run, **body)
    assert response.status_code == 422
    assert detail in response.json()["detail"]
    assert thread(client, run) == []
    assert get_run(moto_db, run_id=run.id).status is AgentRunStatus.STARTED


def test_only_the_runs_own_agent_may_ask(client: TestClient, moto_db: Db) -> None:
    run = make_run(client, moto_db)
    other = make_run(client, moto_db)
    as_operator = client.post(url(run, "/questions"), json={"question": "Q?"}, headers=AUTH)
    assert as_operator.status_code == 403
    assert as_operator.json()["detail"].startswith("Only the run's agent")
    as_other = client.post(
        url(run, "/questions"), json={"question": "Q?"}, headers=agent_auth(client, other.id)
    )
    assert as_other.status_code == 403
    assert thread(client, run) == []


def test_asking_on_an_ended_run_is_409(client: TestClient, moto_db: Db) -> None:
    run = make_run(client, moto_db)
    client.post(url(run, "/cancel"), headers=AUTH)
    response = ask(client, run, question="Still there?")
    assert response.status_code == 409
    assert response.json()["detail"] == (
        f"Agent run {run.id} is no longer active (failed); nobody can answer its questions."
    )


def test_asking_on_an_unknown_run_is_404(client: TestClient) -> None:
    response = client.post(
        url("run_nope", "/questions"),
        json={"question": "Q?"},
        headers=agent_auth(client, "run_nope"),
    )
    assert response.status_code == 404
    assert response.json() == {"detail": "Agent run run_nope was not found."}


def test_an_answer_closes_the_question_and_the_run_returns_to_its_phase(
    client: TestClient, moto_db: Db
) -> None:
    run = make_run(client, moto_db, AgentRunRole.REVIEWER)
    question = ask(client, run, question="Merge now?", options=["yes", "no"]).json()
    answer = client.post(url(run), json={"content": "yes"}, headers=AUTH).json()
    assert answer["replyTo"] == question["id"]
    closed = client.post(
        url(run, f"/questions/{question['id']}/answered"),
        json={"messageId": answer["id"]},
        headers=agent_auth(client, run.id),
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["receipt"]["state"] == "delivered"
    assert closed.json()["receipt"]["channel"] == "mcp"
    stored = get_run(moto_db, run_id=run.id)
    assert stored.status is AgentRunStatus.REVIEWING
    assert stored.open_question_id is None
    assert stored.waiting_seconds >= 0.0
    messages = {m["id"]: m for m in thread(client, run)}
    assert messages[answer["id"]]["receipt"]["state"] == "delivered"
    assert messages[answer["id"]]["receipt"]["channel"] == "mcp"
    notices = [m["content"] for m in messages.values() if m.get("receiptFor") == question["id"]]
    assert notices == ["💬 Answered: “yes”"]
    # A retry changes nothing; the same question cannot also expire.
    again = client.post(
        url(run, f"/questions/{question['id']}/answered"),
        json={"messageId": answer["id"]},
        headers=agent_auth(client, run.id),
    )
    assert again.status_code == 200
    late = client.post(
        url(run, f"/questions/{question['id']}/expired"), headers=agent_auth(client, run.id)
    )
    assert late.status_code == 409
    assert late.json() == {"detail": f"Question {question['id']} was already answered."}
    assert len(thread(client, run)) == len(messages)
    # The next question may be asked now.
    assert ask(client, run, question="And deploy?").status_code == 201


def test_an_answer_must_be_a_user_message_after_the_question(
    client: TestClient, moto_db: Db
) -> None:
    run = make_run(client, moto_db)
    before = client.post(url(run), json={"content": "early"}, headers=AUTH).json()
    question = ask(client, run, question="Q?").json()
    response = client.post(
        url(run, f"/questions/{question['id']}/answered"),
        json={"messageId": before["id"]},
        headers=agent_auth(client, run.id),
    )
    assert response.status_code == 422
    assert response.json()["detail"] == (
        f"Message {before['id']} cannot answer question {question['id']}: an answer is a "
        "user message posted after the question."
    )
    unknown = client.post(
        url(run, "/questions/q_nope/answered"),
        json={"messageId": before["id"]},
        headers=agent_auth(client, run.id),
    )
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": f"Question q_nope was not found in run {run.id}."}


def test_expiry_closes_the_question_unanswered(client: TestClient, moto_db: Db) -> None:
    run = make_run(client, moto_db, AgentRunRole.ARCHITECT)
    question = ask(client, run, question="Q?").json()
    response = client.post(
        url(run, f"/questions/{question['id']}/expired"), headers=agent_auth(client, run.id)
    )
    assert response.status_code == 200
    receipt = response.json()["receipt"]
    assert (receipt["state"], receipt["runId"], receipt["reason"]) == (
        "not_delivered",
        run.id,
        "nobody answered in time",
    )
    stored = get_run(moto_db, run_id=run.id)
    assert (stored.status, stored.open_question_id) == (AgentRunStatus.THINKING, None)
    notices = [m["content"] for m in thread(client, run) if m.get("receiptFor") == question["id"]]
    assert notices == ["⌛ Not answered: nobody answered in time"]
    # A late answer cannot reopen it.
    answer = client.post(url(run), json={"content": "too late"}, headers=AUTH).json()
    assert answer.get("replyTo") is None
    late = client.post(
        url(run, f"/questions/{question['id']}/answered"),
        json={"messageId": answer["id"]},
        headers=agent_auth(client, run.id),
    )
    assert late.status_code == 409
    assert late.json()["detail"] == (
        f"Question {question['id']} was already closed unanswered (nobody answered in time)."
    )


def test_a_question_of_a_cancelled_run_expires_with_the_run_ended(
    client: TestClient, moto_db: Db
) -> None:
    run = make_run(client, moto_db)
    question = ask(client, run, question="Q?").json()
    assert client.post(url(run, "/cancel"), headers=AUTH).status_code == 200
    response = client.post(
        url(run, f"/questions/{question['id']}/expired"), headers=agent_auth(client, run.id)
    )
    assert response.status_code == 200
    assert response.json()["receipt"]["reason"] == "the run ended"
    stored = get_run(moto_db, run_id=run.id)
    assert (stored.status, stored.error_message) == (AgentRunStatus.FAILED, "Cancelled by user")
    assert stored.open_question_id is None


def test_check_messages_hands_over_pending_messages_once(client: TestClient, moto_db: Db) -> None:
    run = make_run(client, moto_db)
    check = url(run, "/messages/check")
    first = client.post(url(run), json={"content": "use tabs"}, headers=AUTH).json()
    got = client.post(check, headers=agent_auth(client, run.id))
    assert got.status_code == 200, got.text
    assert [m["id"] for m in got.json()] == [first["id"]]
    assert got.json()[0]["receipt"]["state"] == "delivered"
    assert got.json()[0]["receipt"]["channel"] == "mcp"
    assert client.post(check, headers=agent_auth(client, run.id)).json() == []
    # The agent may ask again from a cursor whose answer it lost.
    replay = client.post(check, json={"since": "000000000000"}, headers=agent_auth(client, run.id))
    assert [m["id"] for m in replay.json()] == [first["id"]]
    notices = [m["content"] for m in thread(client, run) if m.get("receiptFor") == first["id"]]
    assert notices == ["📬 Delivered to Nori (coder, step 1) via its omakase tools"]


def test_check_messages_is_agent_only_and_validates_since(client: TestClient, moto_db: Db) -> None:
    run = make_run(client, moto_db)
    check = url(run, "/messages/check")
    assert client.post(check, headers=AUTH).status_code == 403
    bad = client.post(check, json={"since": "yesterday"}, headers=agent_auth(client, run.id))
    assert bad.status_code == 422
    assert bad.json()["detail"].startswith("Invalid body field 'since'")
