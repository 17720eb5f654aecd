"""The scripted model server on its own (fast): wire format, record, policies.

The CLI tests (test_fake_model.py) prove it works with the real client; these
pin the details a test author relies on when scripting it.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import pytest

from tests.support.fake_model import FakeModel
from tests.support.fake_model_script import (
    INJECTED_PREFIX,
    ModelRequest,
    Rule,
    Rules,
    bash,
    first_of_turn,
    prompt_contains,
    scripted_policy,
    text,
)

TOOLS = [{"name": "Bash", "input_schema": {"type": "object"}}]


def body(*messages: dict[str, Any], tools: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "model": "claude-test",
        "messages": list(messages),
        "tools": TOOLS if tools is None else tools,
    }


def user(*blocks: Any) -> dict[str, Any]:
    return {"role": "user", "content": list(blocks)}


def assistant(*blocks: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": list(blocks)}


def result(tool_id: str, words: str) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tool_id, "content": words}


def request(payload: dict[str, Any]) -> ModelRequest:
    return ModelRequest("POST", "/v1/messages?beta=true", payload, {}, 0.0)


def sse(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    events, name = [], ""
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            events.append((name, json.loads(line.removeprefix("data: "))))
    return events


def test_a_stream_has_anthropics_event_sequence_and_reassembles(fake_model: FakeModel) -> None:
    fake_model.responder = lambda _r: [text("Hi"), bash("sleep 1")]
    with httpx.stream(
        "POST", f"{fake_model.url}/v1/messages?beta=true", json={**body(), "stream": True}
    ) as response:
        assert response.headers["content-type"] == "text/event-stream"
        events = sse(response)

    assert [name for name, _ in events] == [
        "message_start",
        *["content_block_start", "content_block_delta", "content_block_stop"] * 2,
        "message_delta",
        "message_stop",
    ]
    assert events[0][1]["message"]["usage"]["input_tokens"] > 0
    assert events[2][1]["delta"] == {"type": "text_delta", "text": "Hi"}
    assert events[4][1]["content_block"]["name"] == "Bash"
    assert json.loads(events[5][1]["delta"]["partial_json"])["command"] == "sleep 1"
    assert events[7][1]["delta"]["stop_reason"] == "tool_use"
    assert events[7][1]["usage"]["output_tokens"] > 0


def test_non_streaming_probes_and_token_counting_answer(fake_model: FakeModel) -> None:
    whole = httpx.post(f"{fake_model.url}/v1/messages", json=body(user(text("Hello")))).json()
    assert whole["content"] == [text("Done. You said: Hello")]
    assert whole["stop_reason"] == "end_turn"
    counted = httpx.post(f"{fake_model.url}/v1/messages/count_tokens", json=body()).json()
    assert counted["input_tokens"] > 0
    assert httpx.get(f"{fake_model.url}/v1/models").json()["data"]
    assert httpx.head(f"{fake_model.url}/").status_code == 200
    assert [r.method for r in fake_model.requests] == ["POST", "POST", "GET", "HEAD"]


def test_side_calls_get_schema_answers_and_leave_the_script_alone(fake_model: FakeModel) -> None:
    rules = Rules(Rule(lambda _r: True, [text("scripted")]))
    fake_model.responder = rules
    schema = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}
    side = {**body(user(text("x")), tools=[]), "output_config": {"format": {"schema": schema}}}
    answer = httpx.post(f"{fake_model.url}/v1/messages", json=side).json()

    assert json.loads(answer["content"][0]["text"]) == {"title": "Scripted"}
    assert rules.rules[0].fired == 0
    assert fake_model.agent_requests == []


def test_requests_are_recorded_from_concurrent_clients(fake_model: FakeModel) -> None:
    def post(n: int) -> None:
        httpx.post(f"{fake_model.url}/v1/messages", json=body(user(text(f"client {n}"))))

    threads = [threading.Thread(target=post, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(r.seq for r in fake_model.requests) == list(range(8))
    assert len(fake_model.requests_containing("client 5")) == 1
    assert fake_model.wait_for_text("client 7", timeout=1).prompt == "client 7"


def test_waiting_for_a_request_that_never_comes_raises(fake_model: FakeModel) -> None:
    with pytest.raises(TimeoutError):
        fake_model.wait_for_text("nobody sends this", timeout=0.2)


def test_a_failing_responder_answers_500_and_is_reported() -> None:
    def broken(_r: ModelRequest) -> list[dict[str, Any]]:
        raise ValueError("bad script")

    with FakeModel(broken) as model:
        response = httpx.post(f"{model.url}/v1/messages", json=body(user(text("x"))))
    assert response.status_code == 500
    assert model.errors == ["request 0: ValueError('bad script')"]


def test_directives_run_in_order_one_per_request_then_an_answer() -> None:
    prompt = user(
        text("<system-reminder>date</system-reminder>"), text("Go [[bash: ls]] [[ask: Why?]]")
    )
    first = scripted_policy(request(body(prompt)))
    assert first[0]["input"]["command"] == "ls"
    call = assistant(first[0])
    second = scripted_policy(request(body(prompt, call, user(result(first[0]["id"], "a.txt")))))
    assert second[0]["name"] == "mcp__omakase__ask_human"
    assert second[0]["input"] == {"question": "Why?"}
    answer = request(
        body(
            prompt,
            call,
            user(result("t1", "a.txt")),
            assistant(second[0]),
            user(result("t2", "Blue")),
        )
    )
    assert scripted_policy(answer) == [
        text("Done. You said: Go [[bash: ls]] [[ask: Why?]]\nTool result: Blue")
    ]


def test_a_message_injected_mid_turn_is_what_the_answer_quotes() -> None:
    injected = {
        "role": "system",
        "content": f"{INJECTED_PREFIX}\nAlso do Y\n\nIMPORTANT: After completing your task, …",
    }
    seen = request(
        body(user(text("Do X")), assistant(bash("true")), user(result("t", "ok")), injected)
    )
    assert seen.injected == ["Also do Y"]
    assert not seen.is_first_of_turn
    assert scripted_policy(seen)[0]["text"].startswith("Done. You said: Also do Y")


def test_words_after_an_interrupt_start_a_new_turn() -> None:
    cut = user(
        result("t", "rejected"), text("[Request interrupted by user for tool use]"), text("Now Z")
    )
    seen = request(body(user(text("Do X [[bash: sleep 30]]")), assistant(bash("sleep 30")), cut))
    assert seen.is_first_of_turn
    assert seen.prompt == "Now Z"
    assert scripted_policy(seen) == [text("Done. You said: Now Z")]


@pytest.mark.parametrize(
    ("directive", "verdict"), [("", "APPROVE"), ("[[verdict: REQUEST_CHANGES]]", "REQUEST_CHANGES")]
)
def test_a_review_request_gets_the_verdict_on_the_first_line(directive: str, verdict: str) -> None:
    asked = request(body(user(text(f"Review. Reply APPROVE or REQUEST_CHANGES. {directive}"))))
    assert scripted_policy(asked)[0]["text"].splitlines()[0] == verdict


def test_rules_fire_in_order_their_number_of_times_then_fall_back() -> None:
    rules = Rules(
        Rule(prompt_contains("hold"), [bash("sleep 3")], times=1),
        Rule(first_of_turn, [text("first of turn")], times=None),
    )
    hold = request(body(user(text("hold on"))))
    first, second = rules(hold), rules(hold)
    assert first[0]["input"]["command"] == "sleep 3"
    assert second == [text("first of turn")]
    later = request(body(user(text("x")), assistant(bash("true")), user(result("t", "done"))))
    assert rules(later) == [text("Done. You said: x\nTool result: done")]
    repeated = Rules(Rule(first_of_turn, [bash("true")], times=2))
    ids = {repeated(hold)[0]["id"] for _ in range(2)}
    assert len(ids) == 2, "every reply gets fresh tool ids"
