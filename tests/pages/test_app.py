"""Page logic with Streamlit's AppTest: the chat sidebar, mission control, error banners.

The pages get a ``FakeApi`` through ``st.session_state`` (``pages.lib.api.CLIENT_KEY``);
the chat runs in ``poll`` mode so every tick is a synchronous call the test
controls. The same pages against the real API and browser: tests/browser/.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.client import ApiError, ApiUnavailable
from core.models import (
    AgentRunRole,
    AgentRunStatus,
    DeliveryReceipt,
    MessageSender,
    MessageType,
    ReceiptState,
)
from pages.lib.api import CLIENT_KEY
from pages.lib.chat import ACTIVE_KEY, CHAT_MODE_ENV, POLL_MODE
from tests.pages.fake_api import FakeApi

TIMEOUT_S = 30.0
ROOT = Path(__file__).resolve().parents[2]
EMPTY = "Send a message to Nori while they work on Tonkotsu broth"
ENDED = "This conversation has ended"


def chat_script() -> None:
    from pages.lib.chat import render_chat_sidebar

    render_chat_sidebar()


@pytest.fixture(autouse=True)
def poll_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CHAT_MODE_ENV, POLL_MODE)


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


def chat_app(api: FakeApi, run_id: str) -> AppTest:
    at = AppTest.from_function(chat_script, default_timeout=TIMEOUT_S)
    at.session_state[CLIENT_KEY] = api
    at.session_state[ACTIVE_KEY] = run_id
    return at.run()


def html(at: AppTest) -> str:
    return "\n".join(str(element.proto.body) for element in at.get("html"))


def test_empty_state_until_someone_speaks_status_notices_do_not_count(api: FakeApi) -> None:
    run = api.add_run()
    api.add_message(run.id, "Nori started step 2 (coder)", type=MessageType.STATUS)
    at = chat_app(api, run.id)
    assert not at.exception
    assert EMPTY in html(at)
    assert "Nori started step 2 (coder)" in html(at)
    assert not at.chat_input[0].proto.disabled
    assert ENDED not in html(at)

    api.add_message(run.id, "Working on the broth")
    at.run()
    assert EMPTY not in html(at)
    assert "Working on the broth" in html(at)


def test_ended_run_disables_the_input_with_a_banner(api: FakeApi) -> None:
    run = api.add_run(status=AgentRunStatus.COMPLETED)
    api.add_message(run.id, "Done")
    at = chat_app(api, run.id)
    assert ENDED in html(at)
    assert at.chat_input[0].proto.disabled


def test_failed_run_shows_its_error_with_the_error_accent(api: FakeApi) -> None:
    run = api.add_run(status=AgentRunStatus.FAILED)
    api.add_message(run.id, "Nori failed: Cancelled by user", type=MessageType.ERROR)
    at = chat_app(api, run.id)
    assert "oma-error-msg" in html(at)
    assert ENDED in html(at)
    assert EMPTY not in html(at)  # no invitation to write into an ended run


def test_receipts_under_user_messages(api: FakeApi) -> None:
    run = api.add_run()
    api.add_message(run.id, "first", sender=MessageSender.USER)
    api.add_message(
        run.id,
        "second",
        sender=MessageSender.USER,
        receipt=DeliveryReceipt(state=ReceiptState.DELIVERED, step=3, role=AgentRunRole.REVIEWER),
    )
    api.add_message(
        run.id,
        "third",
        sender=MessageSender.USER,
        receipt=DeliveryReceipt(state=ReceiptState.NOT_DELIVERED, reason="the pipeline ended"),
    )
    page = html(chat_app(api, run.id))
    assert ">queued<" in page
    assert "delivered to step 3 (Koji, reviewer)" in page
    assert "not delivered: the pipeline ended" in page


def test_a_receipt_that_lands_later_replaces_queued(api: FakeApi) -> None:
    run = api.add_run()
    asked = api.add_message(run.id, "more garlic", sender=MessageSender.USER)
    at = chat_app(api, run.id)
    assert ">queued<" in html(at)
    api.add_message(
        run.id,
        "Delivered to Koji",
        type=MessageType.STATUS,
        receipt=DeliveryReceipt(state=ReceiptState.DELIVERED, step=3, role=AgentRunRole.REVIEWER),
    )
    api.messages[run.id][-1] = api.messages[run.id][-1].model_copy(update={"receipt_for": asked.id})
    at.run()
    assert "delivered to step 3 (Koji, reviewer)" in html(at)
    assert ">queued<" not in html(at)


def test_send_shows_the_message_once(api: FakeApi) -> None:
    run = api.add_run()
    at = chat_app(api, run.id)
    at.chat_input[0].set_value("Please add garlic").run()
    assert api.posts == ["Please add garlic"]
    assert html(at).count("Please add garlic") == 1
    at.run()
    assert html(at).count("Please add garlic") == 1
    assert len(api.messages[run.id]) == 1


def test_a_refused_send_is_rolled_back_with_the_reason(api: FakeApi) -> None:
    run = api.add_run()
    api.refuse_post = ApiError(409, f"Agent run {run.id} is no longer active.")
    at = chat_app(api, run.id)
    at.chat_input[0].set_value("too late").run()
    assert "too late" not in html(at)
    assert any(f"Agent run {run.id} is no longer active." in e.value for e in at.error)
    assert api.messages[run.id] == []


def test_markup_is_escaped(api: FakeApi) -> None:
    run = api.add_run()
    api.add_message(run.id, "<img src=x onerror=alert(1)>", sender=MessageSender.USER)
    page = html(chat_app(api, run.id))
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<img" not in page


def test_long_threads_are_windowed_with_load_earlier(api: FakeApi) -> None:
    run = api.add_run()
    for n in range(150):
        api.add_message(run.id, f"line {n}")
    at = chat_app(api, run.id)
    assert "line 149" in html(at)
    assert "line 89<" not in html(at)
    load = at.button(key="oma_load_earlier")
    assert load.label == "Load earlier (90 more)"
    load.click().run()
    assert "line 0<" in html(at)


def test_opening_the_chat_clears_the_unread_badge(api: FakeApi) -> None:
    run = api.add_run()
    api.add_message(run.id, "one")
    api.add_message(run.id, "two")
    page = AppTest.from_file(str(ROOT / "pages/project_detail.py"), default_timeout=TIMEOUT_S)
    page.session_state[CLIENT_KEY] = api
    page.run()
    assert not page.exception
    assert 'title="unread messages">2<' in html(page)

    chat_app(api, run.id)
    page.run()
    assert "unread messages" not in html(page)


def test_clicking_cards(api: FakeApi) -> None:
    run = api.add_run()
    page = AppTest.from_file(str(ROOT / "pages/project_detail.py"), default_timeout=TIMEOUT_S)
    page.session_state[CLIENT_KEY] = api
    page.run()
    page.button(key="cardbtn_architect").click().run()
    assert ACTIVE_KEY not in page.session_state
    assert any("Miso is idle: no run is in progress" in i.value for i in page.info)

    page.button(key="cardbtn_coder").click().run()
    assert page.session_state[ACTIVE_KEY] == run.id


@pytest.mark.parametrize(
    ("failure", "title"),
    [
        (ApiUnavailable("Cannot reach the API at http://fake: refused."), "is unreachable"),
        (
            ApiError(401, "The bearer token is not valid for this service."),
            "refused the dashboard's token",
        ),
        (ApiError(503, "The store is unavailable."), "The store is unavailable."),
    ],
)
@pytest.mark.parametrize(
    "page_file", ["pages/projects.py", "pages/project_detail.py", "pages/history.py"]
)
def test_api_failures_show_a_banner_not_a_traceback(
    api: FakeApi, failure: ApiError, title: str, page_file: str
) -> None:
    api.failure = failure
    at = AppTest.from_file(str(ROOT / page_file), default_timeout=TIMEOUT_S)
    at.session_state[CLIENT_KEY] = api
    at.run()
    assert not at.exception
    assert len(at.error) == 1
    assert title in at.error[0].value


def test_a_failing_api_in_the_open_chat_shows_a_banner(api: FakeApi) -> None:
    run = api.add_run()
    at = chat_app(api, run.id)
    api.failure = ApiUnavailable("Cannot reach the API at http://fake: refused.")
    at.run()
    assert not at.exception
    assert any("is unreachable" in e.value for e in at.error)


def test_failing_live_panels_show_one_banner(api: FakeApi) -> None:
    api.add_run()
    page = AppTest.from_file(str(ROOT / "pages/project_detail.py"), default_timeout=TIMEOUT_S)
    page.session_state[CLIENT_KEY] = api
    page.run()

    def down(*_: object, **__: object) -> None:
        raise ApiUnavailable("Cannot reach the API at http://fake: refused.")

    # The page itself loads; its live panels fail: one banner, and the run stops there.
    setattr(api, "list_agents", down)  # noqa: B010
    setattr(api, "project_logs", down)  # noqa: B010
    page.run()
    assert not page.exception
    assert len(page.error) == 1
    assert "is unreachable" in page.error[0].value
