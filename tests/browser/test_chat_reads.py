"""The conversation reads like a chat, in a real browser against the real API (issue #19).

One test walks the points a person sees, on one running feature:

* the agent's Markdown is rendered — and safely: raw HTML is text, a
  ``javascript:`` link is text, an image is a link that is never loaded (no
  request leaves), links open in a new tab only on click, fenced code scrolls
  inside its bubble;
* a queued message appears once, its Withdraw and Edit on its bubble (no
  second list), and a delivery notice is the bubble's receipt, not a line;
* while the step runs, the mode buttons are shown;
* a project at its ``maxConcurrency``: "Start now" says the feature waits its
  turn, and the API's sentence says why;
* an agent waiting for an answer: the tab title carries the count, a pill
  beside the navigation says it on every page, a toast on the page the person
  is on;
* the history page lists every message with a page size of 2;
* once the feature ended, there is no input to type into.

This module's API runs its monitor only every ``MONITOR_S`` seconds (the first
tick at start-up), so a message posted during the test stays ``queued`` — no
inbox write, no relay — for as long as the test needs.
"""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Dialog, Page, Request, expect

from api.store.messages import create_message
from api.store.runs import set_run_status
from core.models import (
    AgentMessage,
    AgentRunRole,
    AgentRunStatus,
    DeliveryChannel,
    DeliveryReceipt,
    FeatureStatus,
    MessageSender,
    MessageType,
    ReceiptState,
)
from tests.browser.conftest import Stack
from tests.browser.test_dashboard import (
    SIDEBAR,
    as_agent,
    chat_input,
    eventually,
    mine,
    open_chat_from_card,
    open_project,
    send,
)
from tests.support.dashboard import start_running_agent

pytestmark = [pytest.mark.browser, pytest.mark.engine, pytest.mark.slow]

MONITOR_S = 600
API_ENV = {"OMAKASE_MONITOR_INTERVAL_SECONDS": str(MONITOR_S)}
#: The dashboard reads lists in pages of 2: the history page must still show them all.
DASHBOARD_ENV = {"OMAKASE_API_PAGE_SIZE": "2"}
PIXEL = "http://127.0.0.1:9/pixel.png"
LONG_LINE = "x = " + "1 + " * 120 + "1"
MARKDOWN = (
    "Done with this step. Verdict: **APPROVE**\n\n"
    "- see [the docs](https://example.com/docs)\n"
    "- [click me](javascript:alert(1))\n"
    f"- ![diagram]({PIXEL})\n\n"
    "<img src=x onerror=alert(1)>\n\n"
    f"```python\n{LONG_LINE}\n```"
)
ENDED = "This conversation has ended"


def test_the_conversation_reads_like_a_chat(stack: Stack, page: Page) -> None:
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(cast_url(request)))
    scenario = start_running_agent(
        stack.client,
        api_token=stack.api.token,
        project_name=f"Udon {uuid.uuid4().hex[:6]}",
        max_concurrency=1,
    )
    waiting_feature = stack.client.create_feature(scenario.project.id, "Waits its turn")
    with as_agent(stack, scenario) as agent:
        posted = agent.post(
            f"/api/agent-runs/{scenario.run.id}/messages", json={"content": MARKDOWN}
        )
        assert posted.status_code == 201, posted.text
    open_project(page, stack, scenario)
    open_chat_from_card(page)
    sidebar = page.locator(SIDEBAR)

    # 1. Markdown, safely.
    bubble = sidebar.locator(".oma-msg-agent .oma-bubble", has_text="Verdict")
    expect(bubble.locator("strong")).to_have_text("APPROVE")
    link = bubble.locator("a", has_text="the docs")
    expect(link).to_have_attribute("target", "_blank")
    # (Streamlit's own sanitiser of st.html rewrites rel to "noopener noreferrer".)
    expect(link).to_have_attribute("rel", re.compile("noopener noreferrer"))
    expect(bubble).to_contain_text("(example.com/docs)")
    expect(bubble).to_contain_text("[click me](javascript:alert(1))")
    expect(bubble).to_contain_text("<img src=x onerror=alert(1)>")
    expect(bubble.locator("a", has_text="diagram")).to_have_attribute("href", PIXEL)
    expect(sidebar.locator("img")).to_have_count(0)
    assert bubble.locator("a[href^='javascript']").count() == 0
    code = bubble.locator("pre")
    expect(code).to_contain_text(LONG_LINE)
    sizes = code.evaluate(
        "n => [n.scrollWidth, n.clientWidth, getComputedStyle(n).overflowX, "
        "getComputedStyle(n).fontFamily, n.closest('.oma-msg-body').getBoundingClientRect().right,"
        " document.querySelector('section[data-testid=stSidebar]').getBoundingClientRect().right]"
    )
    assert sizes[0] > sizes[1], sizes  # the line is longer than the bubble…
    assert sizes[2] == "auto", sizes  # …and scrolls inside it
    assert "JetBrains Mono" in sizes[3], sizes
    assert sizes[4] <= sizes[5] + 1, sizes  # the bubble stays inside the sidebar

    # 2. A queued message once, its buttons on it; a delivery notice is its receipt.
    picker = sidebar.locator('[data-testid="stButtonGroup"]')
    expect(picker).to_contain_text("Send")  # 3. the mode buttons while the step runs
    expect(picker).to_contain_text("Next step")
    send(page, "Use SQLite")
    send(page, "Use tabs")
    expect(mine(page, "Use tabs")).to_have_count(1)
    expect(sidebar.get_by_text("Waiting for delivery")).to_have_count(0)

    def mine_stored() -> list[AgentMessage]:
        return stack.client.list_messages(scenario.run.id, sender=MessageSender.USER)

    eventually(lambda: len(mine_stored()) == 2)  # the bubble shows before the POST lands
    stored = mine_stored()
    first = next(m for m in stored if m.content == "Use SQLite")
    second = next(m for m in stored if m.content == "Use tabs")
    expect(sidebar.get_by_text("Use SQLite", exact=True)).to_have_count(1)
    page.locator(f".st-key-oma_withdraw_{first.id} button").click()
    expect(page.locator(".oma-receipt", has_text="withdrawn: no agent got it")).to_have_count(1)
    expect(page.locator(f".st-key-oma_withdraw_{first.id}")).to_have_count(0)
    page.locator(f".st-key-oma_edit_{second.id} button").click()
    page.locator(f".st-key-oma_edit_text_{second.id} textarea").fill("Use 4 spaces")
    page.locator(f".st-key-oma_edit_save_{second.id} button").click()
    expect(mine(page, "Use 4 spaces")).to_have_count(1)
    expect(sidebar.get_by_text("Use 4 spaces", exact=True)).to_have_count(1)
    eventually(lambda: any(m.content == "Use 4 spaces" for m in mine_stored()))
    edited = next(m for m in mine_stored() if m.content == "Use 4 spaces")
    receipt = DeliveryReceipt(
        state=ReceiptState.DELIVERED,
        run_id=scenario.run.id,
        step=1,
        role=AgentRunRole.ARCHITECT,
        channel=DeliveryChannel.INBOX,
    )
    create_message(
        stack.db,
        run=stack.client.get_run(scenario.run.id),
        sender=MessageSender.AGENT,
        role=AgentRunRole.ARCHITECT,
        content="📬 Delivered to Miso (architect, step 1) via the inbox",
        type=MessageType.STATUS,
        receipt=receipt,
        receipt_for=edited.id,
    )
    expect(
        page.locator(".oma-receipt", has_text="delivered to step 1 · Miso (architect) · inbox")
    ).to_have_count(1)
    expect(sidebar.get_by_text("📬 Delivered")).to_have_count(0)
    expect(page.locator(f".st-key-oma_withdraw_{edited.id}")).to_have_count(0)

    # 4. "Start now" on a full project: the button says so, the API says why.
    page.get_by_role("tab", name="Features").click()
    start = page.get_by_role("button", name="Start now (waits its turn: project full)")
    start.click()
    expect(
        page.get_by_text("waits its turn — start it again when one of them ends")
    ).to_be_visible()
    assert stack.client.get_feature(waiting_feature.id).status is FeatureStatus.PENDING

    # 5. Someone is waiting for you, on whichever page (the conversation closed).
    page.get_by_role("button", name="✕").click()
    expect(sidebar.locator(".oma-chat-title")).to_have_count(0)
    page.get_by_role("link", name=re.compile("History")).click()
    expect(page.get_by_role("heading", name="History & export")).to_be_visible()
    assert page.title() == "Omakase"
    create_message(
        stack.db,
        run=stack.client.get_run(scenario.run.id),
        sender=MessageSender.AGENT,
        role=AgentRunRole.ARCHITECT,
        content="Should the broth simmer **12** or **18** hours?",
        type=MessageType.QUESTION,
    )
    set_run_status(stack.db, run_id=scenario.run.id, status=AgentRunStatus.WAITING)
    expect(page.locator(".oma-waiting-pill")).to_contain_text("1 waiting for you")
    expect(page.get_by_text("Miso is waiting for you (Tonkotsu broth)")).to_be_visible()
    eventually(lambda: page.title() == "(1) Omakase")

    # 6. Every message on the history page, read in pages of 2.
    total = len(stack.client.feature_messages(scenario.feature.id))
    assert total > 2
    page.get_by_role("button", name="Reload").click()
    expect(page.get_by_text(re.compile(rf"^{total} of {total} messages"))).to_be_visible()

    page.get_by_role("link", name=re.compile("Projects")).click()
    expect(page.locator(".oma-waiting-line", has_text="Miso")).to_contain_text(
        "1 waiting for you: Miso"
    )
    expect(page.locator(".oma-waiting-pill")).to_contain_text("1 waiting for you")
    eventually(lambda: page.title() == "(1) Omakase")

    # The question, its Markdown rendered, from the card that says who waits.
    open_project(page, stack, scenario)
    page.get_by_role("button", name="Answer Miso").click()
    question = sidebar.locator(".oma-msg-agent.oma-question")
    expect(question.locator("strong")).to_have_count(2)

    # 7. Ended: read-only, with no input at all.
    stack.client.cancel_run(scenario.run.id)
    expect(sidebar.get_by_text(ENDED)).to_be_visible(timeout=30_000)
    expect(chat_input(page)).to_have_count(0)
    expect(sidebar.locator('[data-testid="stButtonGroup"]')).to_have_count(0)
    expect(page.locator(".oma-waiting-pill")).to_have_count(0)
    eventually(lambda: page.title() == "Omakase")
    assert dialogs == []  # no script ran
    assert not [url for url in requested if "pixel.png" in url]  # no image loaded


def cast_url(request: Request) -> str:
    return request.url
