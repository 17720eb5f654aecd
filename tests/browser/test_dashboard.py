"""The dashboard in a real browser: mission control, the sidebar chat, history export.

The running agent is the real pipeline's demo architect (Miso), held in its
step by the ``[hold-architect]`` switch; its replies come from its own process
through the mid-step inbox. Where a test needs many agent messages at once it
posts them with the run's agent token — the same route the agent uses.
"""

from __future__ import annotations

import io
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pandas as pd
import pytest
from playwright.sync_api import Dialog, Locator, Page, expect

from core.models import AgentRunStatus, MessageSender
from tests.browser.conftest import Stack
from tests.support.dashboard import Scenario, start_running_agent

pytestmark = [pytest.mark.browser, pytest.mark.engine, pytest.mark.slow]

FEATURE = "Tonkotsu broth"
EMPTY_STATE = f"Send a message to Miso while they work on {FEATURE}"
ENDED = "This conversation has ended"
XSS = "<img src=x onerror=alert(1)>"
SIDEBAR = 'section[data-testid="stSidebar"]'


def start(stack: Stack) -> Scenario:
    return start_running_agent(
        stack.client, api_token=stack.api.token, project_name=f"Ramen {uuid.uuid4().hex[:6]}"
    )


def as_agent(stack: Stack, scenario: Scenario) -> httpx.Client:
    return httpx.Client(
        base_url=stack.api.url,
        headers={"Authorization": f"Bearer {scenario.agent_token}"},
        timeout=10.0,
    )


def open_project(page: Page, stack: Stack, scenario: Scenario) -> None:
    page.goto(f"{stack.dashboard.url}/project_detail?project={scenario.project.id}")
    expect(page.get_by_role("heading", name=scenario.project.name)).to_be_visible()


def open_chat_from_card(page: Page) -> None:
    page.get_by_role("button", name="Chat with Miso").click()
    expect(page.locator(".oma-chat-title")).to_contain_text(FEATURE)
    expect(page.locator(".oma-chat-feature")).to_contain_text("Miso")


def chat_input(page: Page) -> Locator:
    return page.locator(f"{SIDEBAR} textarea")


def send(page: Page, text: str) -> None:
    box = chat_input(page)
    box.fill(text)
    box.press("Enter")


def bubbles(page: Page, text: str) -> Locator:
    return page.locator(".oma-bubble", has_text=text)


def mine(page: Page, text: str) -> Locator:
    """The user's bubbles with this text (agent replies quote it)."""
    return page.locator(".oma-msg-user .oma-bubble", has_text=text)


def unread(stack: Stack, scenario: Scenario) -> int:
    agents = stack.client.list_agents(scenario.project.id)
    return next(a.unread_count for a in agents if a.current_run_id == scenario.run.id)


def eventually(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.2)


def test_chat_with_a_running_agent(stack: Stack, page: Page, artifacts_dir: Path) -> None:
    scenario = start(stack)
    open_project(page, stack, scenario)

    # An idle agent opens nothing and says why.
    page.get_by_role("button", name="Koji is idle").click()
    expect(page.get_by_text("Koji is idle: no run yet")).to_be_visible()
    expect(page.locator(".oma-chat-title")).to_have_count(0)

    # Its status notices are unread until the chat opens.
    expect(page.locator('[data-role="architect"] .oma-unread')).to_be_visible()
    open_chat_from_card(page)
    expect(page.get_by_text(EMPTY_STATE)).to_be_visible()
    expect(page.locator('[data-role="architect"] .oma-unread')).to_have_count(0)

    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    send(page, "Please use more garlic")
    expect(mine(page, "Please use more garlic")).to_have_count(1)
    expect(page.get_by_text(EMPTY_STATE)).to_have_count(0)

    # The demo agent reads it from its inbox and answers; the receipt says where it went.
    expect(page.locator(".oma-msg-agent .oma-bubble", has_text="Got it")).to_have_count(1)
    expect(page.locator(".oma-receipt", has_text="delivered to step 1")).to_have_count(1)
    expect(mine(page, "Please use more garlic")).to_have_count(1)
    # Regression: a fragment run interrupted by its timer replayed the submitted value
    # and sent it a second time under a new client id (two stored copies, two replies).
    stored = stack.client.list_messages(scenario.run.id, sender=MessageSender.USER)
    assert [m.content for m in stored] == ["Please use more garlic"]

    # A phase change arrives as a centred notice, live.
    notices = page.locator(".oma-status")
    before = notices.count()
    stack.client.update_run_status(scenario.run.id, AgentRunStatus.CODING)
    expect(notices).to_have_count(before + 1)
    assert navigations == []
    # The open chat keeps the read marker at its end: no unread messages server-side.
    eventually(lambda: unread(stack, scenario) == 0)
    page.screenshot(path=str(artifacts_dir / "chat.png"))

    # Typing survives the live refreshes; Escape closes the chat.
    chat_input(page).fill("half-typed thought")
    page.wait_for_timeout(2_500)
    expect(chat_input(page)).to_have_value("half-typed thought")
    page.keyboard.press("Escape")
    expect(page.locator(".oma-chat-title")).to_have_count(0)
    stack.client.cancel_run(scenario.run.id)


def test_reopen_from_a_log_tag_then_cancel_ends_it(stack: Stack, page: Page) -> None:
    scenario = start(stack)
    open_project(page, stack, scenario)
    page.get_by_role("tab", name="Logs").click()
    tag = page.get_by_role("button", name=re.compile(r"Miso$")).first
    expect(tag).to_be_visible()
    tag.click()
    expect(page.get_by_text(EMPTY_STATE)).to_be_visible()

    # The chat stays open across a page switch.
    page.get_by_role("link", name=re.compile("History")).click()
    expect(page.get_by_role("heading", name="History & export")).to_be_visible()
    expect(page.locator(".oma-chat-title")).to_contain_text(FEATURE)

    stack.client.cancel_run(scenario.run.id)
    expect(page.get_by_text(ENDED)).to_be_visible()
    expect(chat_input(page)).to_have_count(0)  # no input under the ended banner
    expect(page.locator(".oma-error-msg", has_text="Cancelled by user")).to_have_count(1)


def test_markup_in_a_message_is_shown_as_text(stack: Stack, page: Page) -> None:
    scenario = start(stack)
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    open_project(page, stack, scenario)
    open_chat_from_card(page)
    send(page, XSS)
    expect(mine(page, XSS)).to_have_count(1)
    assert mine(page, XSS).inner_text() == XSS
    # The agent's reply quotes it: also text.
    expect(page.locator(".oma-msg-agent .oma-bubble", has_text="Got it")).to_have_count(1)
    expect(page.locator(f"{SIDEBAR} img")).to_have_count(0)
    assert dialogs == []
    stack.client.cancel_run(scenario.run.id)


def test_new_messages_indicator_when_scrolled_up(stack: Stack, page: Page) -> None:
    scenario = start(stack)
    with as_agent(stack, scenario) as agent:
        for n in range(25):
            agent.post(
                f"/api/agent-runs/{scenario.run.id}/messages", json={"content": f"Progress {n}"}
            )
        open_project(page, stack, scenario)
        open_chat_from_card(page)
        expect(bubbles(page, "Progress 24")).to_be_in_viewport()
        page.locator(".st-key-oma_thread").hover()
        page.mouse.wheel(0, -10_000)  # the user scrolls up
        expect(bubbles(page, "Progress 24")).not_to_be_in_viewport()
        agent.post(f"/api/agent-runs/{scenario.run.id}/messages", json={"content": "Fresh news"})
    indicator = page.locator(".oma-newmsg.oma-show")
    expect(indicator).to_be_visible()
    expect(bubbles(page, "Fresh news")).not_to_be_in_viewport()
    indicator.click()
    expect(bubbles(page, "Fresh news")).to_be_in_viewport()
    expect(indicator).to_have_count(0)
    stack.client.cancel_run(scenario.run.id)


def test_history_csv_download(stack: Stack, page: Page) -> None:
    scenario = start(stack)
    stack.client.post_message(scenario.run.id, "First question")
    with as_agent(stack, scenario) as agent:
        agent.post(f"/api/agent-runs/{scenario.run.id}/messages", json={"content": "An answer"})
    stack.client.cancel_run(scenario.run.id)
    page.goto(f"{stack.dashboard.url}/history?project={scenario.project.id}")
    expect(page.get_by_role("heading", name="History & export")).to_be_visible()
    expect(page.get_by_text(re.compile(r"\d+ of \d+ messages"))).to_be_visible()
    with page.expect_download() as caught:
        page.get_by_role("button", name="Download CSV").click()
    frame = pd.read_csv(io.BytesIO(Path(caught.value.path()).read_bytes()))
    expected = [m.content for m in stack.client.list_messages(scenario.run.id)]
    assert list(frame["content"]) == expected
    assert {"First question", "An answer", "Miso failed: Cancelled by user"} <= set(expected)
    assert set(frame["runId"]) == {scenario.run.id}
    assert set(frame["type"]) >= {"message", "status", "error"}
