"""The sidebar conversation with Streamlit's AppTest: one feature's talk across its steps.

The pages get a ``FakeApi`` through ``st.session_state`` (``pages.lib.api.CLIENT_KEY``);
its ``open_feature_chat`` feeds the real ``Conversation`` state synchronously,
so every tick is a call the test controls. The same against the real API and
browser: tests/browser/.
"""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import ButtonGroup

from core.client import ApiError, ApiUnavailable
from core.models import (
    AgentRunRole,
    AgentRunStatus,
    DeliveryChannel,
    DeliveryMode,
    DeliveryReceipt,
    FeatureStatus,
    MessageSender,
    MessageType,
    ReceiptState,
)
from pages.lib.api import CLIENT_KEY
from pages.lib.chat_session import ACTIVE_KEY
from tests.support.fake_api import FakeApi

TIMEOUT_S = 30.0
EMPTY = "Send a message to Nori while they work on Tonkotsu broth"
ENDED = "This conversation has ended"


def chat_script() -> None:
    from pages.lib.chat import render_chat_sidebar

    render_chat_sidebar()


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


def chat_app(api: FakeApi) -> AppTest:
    at = AppTest.from_function(chat_script, default_timeout=TIMEOUT_S)
    at.session_state[CLIENT_KEY] = api
    at.session_state[ACTIVE_KEY] = api.feature.id
    return at.run()


def html(at: AppTest) -> str:
    return "\n".join(str(element.proto.body) for element in at.get("html"))


def text(at: AppTest) -> str:
    """The visible text of the HTML (tags dropped), to read dividers as a person would."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html(at)))


def bubbles(at: AppTest, content: str) -> int:
    return html(at).count(f'<div class="oma-bubble">{content}</div>')


def user(api: FakeApi, run_id: str, content: str, **receipt: object) -> str:
    state = receipt.pop("state", ReceiptState.QUEUED)
    made = DeliveryReceipt.model_validate({"state": state, **receipt})
    return api.add_message(run_id, content, sender=MessageSender.USER, receipt=made).id


def test_empty_state_until_someone_speaks_status_notices_do_not_count(api: FakeApi) -> None:
    run = api.add_run()
    api.add_message(run.id, "Nori started step 2 (coder)", type=MessageType.STATUS)
    at = chat_app(api)
    assert not at.exception
    assert EMPTY in html(at)
    assert "Nori started step 2 (coder)" in html(at)
    assert not at.chat_input[0].proto.disabled
    assert ENDED not in html(at)

    api.add_message(run.id, "Working on the broth")
    at.run()
    assert EMPTY not in html(at)
    assert "Working on the broth" in html(at)


def test_one_conversation_across_steps_with_dividers_mascots_and_badges(api: FakeApi) -> None:
    architect = api.add_run(AgentRunRole.ARCHITECT, AgentRunStatus.COMPLETED, step=1)
    api.add_message(architect.id, "Plan: a 12-hour broth")
    coder = api.add_run(AgentRunRole.CODER, AgentRunStatus.COMPLETED, step=2)
    api.add_message(coder.id, "Broth simmering")
    reviewer = api.add_run(AgentRunRole.REVIEWER, AgentRunStatus.REVIEWING, step=3)
    api.add_message(reviewer.id, "Reviewing the broth")
    at = chat_app(api)
    shown = text(at)
    order = [
        "Step 1 · Miso 🍜 architect",
        "Plan: a 12-hour broth",
        "Step 2 · Nori 🍙 coder",
        "Broth simmering",
        "Step 3 · Koji 🍶 reviewer",
        "Reviewing the broth",
    ]
    thread = shown[shown.index("Step 1") :]  # after the header
    at_ = 0
    for part in order:
        at_ = thread.index(part, at_)
    assert html(at).count('class="oma-step"') == 3
    # Each agent message carries its mascot and its role badge.
    assert re.search(r"🍶</div>.*?Koji</span><span class=\"oma-badge\"[^>]*>reviewer", html(at))
    assert "Step 3 · Koji 🍶 reviewer · reviewing" in text(at)  # the header: the live step


def test_receipts_say_which_step_got_it_and_how(api: FakeApi) -> None:
    run = api.add_run(AgentRunRole.REVIEWER, step=3, live=True)
    koji = {"step": 3, "role": AgentRunRole.REVIEWER}
    user(api, run.id, "waiting")
    user(api, run.id, "written", state=ReceiptState.SENT, channel=DeliveryChannel.LIVE, **koji)
    user(api, run.id, "live", state=ReceiptState.DELIVERED, channel=DeliveryChannel.LIVE, **koji)
    user(api, run.id, "relay", state=ReceiptState.DELIVERED, channel=DeliveryChannel.RELAY, **koji)
    user(api, run.id, "inbox", state=ReceiptState.DELIVERED, channel=DeliveryChannel.INBOX, **koji)
    user(api, run.id, "mcp", state=ReceiptState.DELIVERED, channel=DeliveryChannel.MCP, **koji)
    user(api, run.id, "late", state=ReceiptState.NOT_DELIVERED, reason="the pipeline ended")
    user(api, run.id, "taken back", state=ReceiptState.WITHDRAWN)
    page = html(chat_app(api))
    where = "step 3 · Koji (reviewer)"
    assert ">queued<" in page
    assert f"sent to {where} · live, waiting for the agent to take it" in page
    for how in ("live", "next step", "inbox", "MCP"):
        assert f"delivered to {where} · {how}<" in page
    assert "not delivered: the pipeline ended" in page
    assert "withdrawn: no agent got it" in page


def test_a_receipt_that_lands_later_replaces_queued_and_never_goes_back(api: FakeApi) -> None:
    run = api.add_run()
    asked = user(api, run.id, "more garlic")
    at = chat_app(api)
    assert ">queued<" in html(at)
    delivered = DeliveryReceipt(
        state=ReceiptState.DELIVERED, step=3, role=AgentRunRole.REVIEWER, channel="relay"
    )
    api.set_receipt(asked, delivered)
    api.feed.append(api.messages[run.id][0].model_copy(update={"receipt": None}))  # a stale copy
    at.run()
    assert "delivered to step 3 · Koji (reviewer) · next step" in html(at)
    assert ">queued<" not in html(at)


def test_send_shows_the_message_once(api: FakeApi) -> None:
    run = api.add_run()
    at = chat_app(api)
    at.chat_input[0].set_value("Please add garlic").run()
    assert api.posts == ["Please add garlic"]
    assert bubbles(at, "Please add garlic") == 1
    at.run()
    assert bubbles(at, "Please add garlic") == 1
    assert len(api.messages[run.id]) == 1
    # A step that is not live offers Send (its inbox) and Next step, never "Steer now".
    assert api.feature_posts == [("Please add garlic", DeliveryMode.STEER)]
    picker = at.get("button_group")[0]
    assert isinstance(picker, ButtonGroup)
    assert picker.options == ["Send", "Next step"]


@pytest.mark.parametrize(
    ("choice", "mode"),
    [
        ("Send", DeliveryMode.STEER),
        ("Steer now", DeliveryMode.INTERRUPT),
        ("Next step", DeliveryMode.QUEUE),
    ],
)
def test_a_live_step_offers_send_steer_now_and_next_step(
    api: FakeApi, choice: str, mode: DeliveryMode
) -> None:
    api.add_run(live=True)
    at = chat_app(api)
    picker = at.get("button_group")[0]
    assert isinstance(picker, ButtonGroup)
    assert picker.options == ["Send", "Steer now", "Next step"]
    picker.set_value(choice).run()
    at.chat_input[0].set_value("less salt").run()
    assert api.feature_posts == [("less salt", mode)]


def test_between_steps_the_input_says_which_step_gets_the_message(api: FakeApi) -> None:
    run = api.add_run(AgentRunRole.CODER, AgentRunStatus.COMPLETED, live=True)
    api.add_message(run.id, "Coding done")
    at = chat_app(api)
    assert not at.get("button_group")
    assert any("goes to the reviewer, step 3" in c.value for c in at.caption)
    assert at.chat_input[0].proto.placeholder == "Message for the reviewer, step 3…"
    assert not at.chat_input[0].proto.disabled
    at.chat_input[0].set_value("also add nori").run()
    assert api.feature_posts == [("also add nori", DeliveryMode.QUEUE)]
    assert "queued for the next step" in html(at)


def test_a_queued_message_is_shown_once_with_withdraw_and_edit_on_its_bubble(
    api: FakeApi,
) -> None:
    run = api.add_run(AgentRunRole.CODER, AgentRunStatus.COMPLETED)
    first = user(api, run.id, "use sqlite")
    second = user(api, run.id, "use postgres")
    delivered = user(api, run.id, "done already", state=ReceiptState.DELIVERED, step=2)
    at = chat_app(api)
    assert html(at).count("use sqlite") == 1  # one copy: no second list of pending texts
    assert "Waiting for delivery" not in html(at) + "".join(c.value for c in at.caption)
    assert at.button(key=f"oma_withdraw_{first}").label == "Withdraw"
    assert not [b for b in at.button if b.key == f"oma_withdraw_{delivered}"]
    at.button(key=f"oma_withdraw_{first}").click().run()
    assert api.withdrawals == [first]
    assert "withdrawn: no agent got it" in html(at)
    assert not [b for b in at.button if b.key == f"oma_withdraw_{first}"]

    at.button(key=f"oma_edit_{second}").click().run()
    at.text_area(key=f"oma_edit_text_{second}").set_value("use postgres 16").run()
    at.button(key=f"oma_edit_save_{second}").click().run()
    assert api.withdrawals == [first, second]
    assert api.posts == ["use postgres 16"]
    assert html(at).count("use postgres 16") == 1

    # Delivered before the click landed: the API says no, the chat says why.
    newest = api.messages[run.id][-1].id
    api.set_receipt(newest, DeliveryReceipt(state=ReceiptState.DELIVERED, step=3))
    api.feed.pop()  # the dashboard has not seen the delivery yet
    at.button(key=f"oma_withdraw_{newest}").click().run()
    assert any("already sent or delivered" in e.value for e in at.error)


def test_receipt_notices_are_not_repeated_in_the_thread(api: FakeApi) -> None:
    run = api.add_run(AgentRunRole.CODER, live=True)
    asked = user(api, run.id, "more garlic")
    receipt = DeliveryReceipt(
        state=ReceiptState.DELIVERED, step=2, role=AgentRunRole.CODER, channel="live"
    )
    api.add_message(
        run.id,
        "📬 Delivered to Nori (coder, step 2) live, during its step",
        type=MessageType.STATUS,
        receipt=receipt,
        receipt_for=asked,
    )
    api.add_message(run.id, "Nori moved to testing", type=MessageType.STATUS)
    page = html(chat_app(api))
    assert "📬" not in page  # the bubble's receipt says it
    assert "delivered to step 2 · Nori (coder) · live" in page
    assert "Nori moved to testing" in page  # a notice that says something new stays


def test_a_question_shows_its_options_and_a_click_answers_it(api: FakeApi) -> None:
    run = api.add_run(AgentRunRole.CODER, AgentRunStatus.WAITING, live=True)
    api.add_message(
        run.id, "SQLite or Postgres?", type=MessageType.QUESTION, options=["SQLite", "Postgres"]
    )
    at = chat_app(api)
    assert "oma-question" in html(at)
    assert "asks you" in html(at)
    assert [b.label for b in at.button if b.key and b.key.startswith("oma_answer_")] == [
        "SQLite",
        "Postgres",
    ]
    at.button(key=f"oma_answer_{api.messages[run.id][0].id}_0").click().run()
    assert api.posts == ["SQLite"]
    assert not [b for b in at.button if b.key and b.key.startswith("oma_answer_")]
    assert html(at).count(">SQLite<") >= 1  # the answer, and the option chip


def test_an_ended_feature_is_read_only_with_a_banner(api: FakeApi) -> None:
    run = api.add_run(status=AgentRunStatus.COMPLETED)
    api.add_message(run.id, "Done")
    api.end_feature(FeatureStatus.PASSING)
    at = chat_app(api)
    assert ENDED in html(at)
    assert "Done" in html(at)
    assert not at.chat_input  # no input that contradicts the banner
    assert not at.get("button_group")
    assert EMPTY not in html(at)


def test_a_failed_run_shows_its_error_with_the_error_accent(api: FakeApi) -> None:
    run = api.add_run(status=AgentRunStatus.FAILED)
    api.add_message(run.id, "Nori failed: Cancelled by user", type=MessageType.ERROR)
    api.end_feature(FeatureStatus.FAILING)
    at = chat_app(api)
    assert "oma-error-msg" in html(at)
    assert ENDED in html(at)


def test_a_refused_send_is_rolled_back_with_the_reason(api: FakeApi) -> None:
    run = api.add_run()
    api.refuse_post = ApiError(409, "Feature Tonkotsu broth has ended.")
    at = chat_app(api)
    at.chat_input[0].set_value("too late").run()
    assert "too late<" not in html(at)
    assert any("Feature Tonkotsu broth has ended." in e.value for e in at.error)
    assert api.messages[run.id] == []


def test_markup_is_escaped(api: FakeApi) -> None:
    run = api.add_run()
    user(api, run.id, "<img src=x onerror=alert(1)>")
    page = html(chat_app(api))
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<img" not in page


def test_agents_markdown_is_rendered_safely_in_messages_and_questions(api: FakeApi) -> None:
    run = api.add_run(AgentRunRole.CODER, AgentRunStatus.WAITING, live=True)
    api.add_message(run.id, "Verdict: **APPROVE** [x](javascript:alert(1))\n\n<script>x</script>")
    api.add_message(run.id, "![pixel](http://evil.example/p.png) and `code`")
    api.add_message(
        run.id, "Use **SQLite** or [Postgres](https://postgresql.org)?", type=MessageType.QUESTION
    )
    page = html(chat_app(api))
    assert "<strong>APPROVE</strong>" in page
    assert "[x](javascript:alert(1))" in page
    assert 'href="javascript' not in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page
    assert "<script>x" not in page
    assert "<img" not in page
    assert "🖼 pixel" in page
    assert "<code>code</code>" in page
    assert "Use <strong>SQLite</strong>" in page  # the open question, drawn by the sidebar
    assert 'target="_blank" rel="noopener noreferrer nofollow"' in page


def test_long_conversations_are_windowed_with_load_earlier(api: FakeApi) -> None:
    run = api.add_run()
    for n in range(150):
        api.add_message(run.id, f"line {n}")
    at = chat_app(api)
    assert "line 149<" in html(at)
    assert "line 89<" not in html(at)
    load = at.button(key="oma_load_earlier")
    assert load.label == "Load earlier (90 more)"
    load.click().run()
    assert "line 0<" in html(at)


def test_a_failing_api_in_the_open_chat_shows_a_banner(api: FakeApi) -> None:
    api.add_run()
    at = chat_app(api)
    api.failure = ApiUnavailable("Cannot reach the API at http://fake: refused.")
    at.run()
    assert not at.exception
    assert any("is unreachable" in e.value for e in at.error)


def test_closing_from_inside_the_live_fragment_closes_the_sidebar(api: FakeApi) -> None:
    api.add_run()
    at = chat_app(api)
    at.button(key="oma_chat_close").click().run()
    assert ACTIVE_KEY not in at.session_state
    assert not at.chat_input
    assert "oma-chat-head" not in html(at)


def test_a_replayed_submission_is_sent_once(api: FakeApi) -> None:
    """Streamlit replays the trigger of a fragment run its timer interrupted, and the
    callback fires again with the same text: that second call must not send."""
    api.add_run()
    at = chat_app(api)
    at.chat_input[0].set_value("Please add garlic").run()
    at.chat_input[0].set_value("Please add garlic").run()  # what a replay looks like
    at.chat_input[0].set_value("and ginger").run()
    assert api.posts == ["Please add garlic", "and ginger"]


def test_one_divider_per_step_when_the_next_step_starts(api: FakeApi) -> None:
    """Rendering: a step that starts later gets its own divider, named (never "Step ?").

    AppTest reruns the whole script, so this does not exercise the fragment-only rerun
    where the runs were once stale; that regression is covered by the browser test
    ``test_one_conversation_from_the_coder_to_the_reviewer``."""
    coder = api.add_run(AgentRunRole.CODER, AgentRunStatus.CODING, step=2)
    api.add_message(coder.id, "Coding")
    at = chat_app(api)
    api.set_status(coder.id, AgentRunStatus.COMPLETED)
    reviewer = api.add_run(AgentRunRole.REVIEWER, AgentRunStatus.REVIEWING, step=3)
    api.add_message(reviewer.id, "Reviewing")
    at.run()
    assert re.findall(r'class="oma-step" data-run="([^"]+)"', html(at)) == [coder.id, reviewer.id]
    assert "Step ?" not in text(at)
