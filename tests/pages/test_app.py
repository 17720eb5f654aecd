"""Mission control with Streamlit's AppTest: agent cards, waiting agents, features, runs, banners.

The pages get a ``FakeApi`` through ``st.session_state`` (``pages.lib.api.CLIENT_KEY``).
The conversation sidebar itself: tests/pages/test_chat_sidebar.py. The same pages
against the real API and browser: tests/browser/.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.client import ApiError, ApiUnavailable
from core.models import AgentRunRole, AgentRunStatus, MessageSender, MessageType, RunUsage
from pages.lib.api import CLIENT_KEY
from pages.lib.chat_session import ACTIVE_KEY
from tests.pages.test_chat_sidebar import chat_app
from tests.support.fake_api import FakeApi

TIMEOUT_S = 30.0
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


def html(at: AppTest) -> str:
    return "\n".join(str(element.proto.body) for element in at.get("html"))


def mission_control(api: FakeApi) -> AppTest:
    page = AppTest.from_file(str(ROOT / "pages/project_detail.py"), default_timeout=TIMEOUT_S)
    page.session_state[CLIENT_KEY] = api
    page.run()
    assert not page.exception
    return page


def test_opening_the_conversation_clears_the_unread_badges(api: FakeApi) -> None:
    run = api.add_run()
    api.add_message(run.id, "one")
    api.add_message(run.id, "two")
    page = mission_control(api)
    assert 'title="unread messages">2<' in html(page)
    assert page.button(key=f"featbtn_{api.feature.id}").label == "💬 Tonkotsu broth · 2 unread"

    chat_app(api)  # the conversation, opened in another session, moves the read marker
    page.run()
    assert "unread messages" not in html(page)
    assert page.button(key=f"featbtn_{api.feature.id}").label == "💬 Tonkotsu broth"


def test_cards_open_the_feature_conversation_also_between_steps(api: FakeApi) -> None:
    architect = api.add_run(AgentRunRole.ARCHITECT, AgentRunStatus.COMPLETED, step=1)
    page = mission_control(api)
    page.button(key="cardbtn_tester").click().run()
    assert ACTIVE_KEY not in page.session_state
    assert any("Toro is idle: no run yet" in i.value for i in page.info)

    # Between steps: Miso's step ended, nobody runs; its card still opens the conversation.
    page.button(key="cardbtn_architect").click().run()
    assert page.session_state[ACTIVE_KEY] == architect.feature_id
    assert "last: Tonkotsu broth" in html(page)


def test_a_feature_opens_from_the_features_tab(api: FakeApi) -> None:
    api.add_run()
    page = mission_control(api)
    page.button(key=f"featbtn_{api.feature.id}").click().run()
    assert page.session_state[ACTIVE_KEY] == api.feature.id


def test_a_waiting_agent_is_louder_than_a_running_one_and_raises_a_toast(api: FakeApi) -> None:
    api.add_run(AgentRunRole.ARCHITECT, AgentRunStatus.THINKING, step=1)
    page = mission_control(api)
    assert "oma-card-waiting" not in html(page)
    assert not page.toast

    run = api.add_run(AgentRunRole.CODER, AgentRunStatus.WAITING, step=2)
    api.add_message(run.id, "SQLite or Postgres?", type=MessageType.QUESTION, options=["SQLite"])
    page.run()
    assert 'class="oma-glass oma-card oma-card-waiting" data-role="coder"' in html(page)
    assert "Nori is waiting for you" in html(page)
    assert page.button(key="cardbtn_coder").label == "Answer Nori"
    assert [t.value for t in page.toast] == [
        "Nori is waiting for you (Tonkotsu broth): open the card."
    ]
    assert 'title="unread messages">1<' in html(page)
    page.run()
    assert not page.toast  # once per question


def test_no_toast_when_the_question_arrives_in_the_open_conversation(api: FakeApi) -> None:
    api.add_run(AgentRunRole.CODER, AgentRunStatus.WAITING)
    page = AppTest.from_file(str(ROOT / "pages/project_detail.py"), default_timeout=TIMEOUT_S)
    page.session_state[CLIENT_KEY] = api
    page.session_state[ACTIVE_KEY] = api.feature.id
    page.run()
    assert "Nori is waiting for you" in html(page)
    assert not page.toast


def test_runs_and_features_show_cost_and_working_time(api: FakeApi) -> None:
    usage = RunUsage(turns=3, input_tokens=1_200, output_tokens=340, cost_usd=0.25)
    api.add_run(AgentRunRole.ARCHITECT, AgentRunStatus.COMPLETED, step=1, usage=usage)
    api.add_run(AgentRunRole.CODER, AgentRunStatus.COMPLETED, step=2, usage=usage)
    page = mission_control(api)
    runs = page.dataframe[1].value
    assert list(runs["turns"]) == [3, 3]
    assert list(runs["tokens in"]) == [1_200, 1_200]
    assert list(runs["tokens out"]) == [340, 340]
    assert list(runs["cost"]) == ["$0.25", "$0.25"]
    features = page.dataframe[0].value
    assert list(features["cost"]) == ["$0.50"]
    assert "$0.50 so far" in html(page)  # on the cards of the feature's agents


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


def test_history_offers_one_features_conversation_as_markdown(api: FakeApi) -> None:
    run = api.add_run()
    api.add_message(run.id, "Broth simmering")
    api.add_message(run.id, "more garlic", sender=MessageSender.USER)
    page = AppTest.from_file(str(ROOT / "pages/history.py"), default_timeout=TIMEOUT_S)
    page.session_state[CLIENT_KEY] = api
    page.run()
    assert not page.exception
    labels = [b.proto.label for b in page.get("download_button")]
    assert labels == ["Download CSV", "Download PARQUET", "Download JSON"]

    page.selectbox(key="oma_h_feature").select(api.feature).run()
    assert not page.exception
    markdown = page.session_state["oma_history_md"]
    assert "Tonkotsu broth" in markdown
    assert "more garlic" in markdown
    assert [b.proto.label for b in page.get("download_button")][-1] == "Download Markdown"


def beacon_script() -> None:
    from pages.lib.waiting import waiting_beacon

    waiting_beacon()


def test_someone_waiting_shows_in_the_tab_title_the_navigation_and_a_toast(api: FakeApi) -> None:
    page = AppTest.from_function(beacon_script, default_timeout=TIMEOUT_S)
    page.session_state[CLIENT_KEY] = api
    run = api.add_run(AgentRunRole.CODER, AgentRunStatus.CODING)
    page.run()
    assert "waiting for you" not in html(page)
    assert '__omaTitle="Omakase"' in html(page)
    assert not page.toast

    api.set_status(run.id, AgentRunStatus.WAITING)
    page.run()
    assert '__omaTitle="(1) Omakase"' in html(page)
    assert "❓ 1 waiting for you" in html(page)
    assert "Nori (Ramen shop)" in html(page)
    assert [t.value for t in page.toast] == [
        "Nori is waiting for you (Tonkotsu broth) in Ramen shop: open its card."
    ]
    page.run()
    assert not page.toast  # once per question


def test_the_projects_list_counts_who_waits(api: FakeApi) -> None:
    api.add_run(AgentRunRole.CODER, AgentRunStatus.WAITING)
    page = AppTest.from_file(str(ROOT / "pages/projects.py"), default_timeout=TIMEOUT_S)
    page.session_state[CLIENT_KEY] = api
    page.run()
    assert not page.exception
    assert "❓ 1 waiting for you: Nori" in html(page)
