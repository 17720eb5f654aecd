"""The sidebar chat in its fallback mode (``OMAKASE_DASHBOARD_CHAT=poll``), in a real browser.

The main browser tests use the default SSE mode; this one checks the polling
path end to end: optimistic send shown once, the demo agent's reply and receipt
live, and the ended banner after a cancel.
"""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Page, expect

from pages.lib.chat import CHAT_MODE_ENV, POLL_MODE
from tests.browser.conftest import Stack
from tests.browser.test_dashboard import (
    EMPTY_STATE,
    ENDED,
    chat_input,
    mine,
    open_chat_from_card,
    open_project,
    send,
)
from tests.support.dashboard import start_running_agent

pytestmark = [pytest.mark.browser, pytest.mark.engine, pytest.mark.slow]

DASHBOARD_ENV = {CHAT_MODE_ENV: POLL_MODE}


def test_polling_chat_round_trip(stack: Stack, page: Page) -> None:
    scenario = start_running_agent(
        stack.client, api_token=stack.api.token, project_name=f"Soba {uuid.uuid4().hex[:6]}"
    )
    open_project(page, stack, scenario)
    open_chat_from_card(page)
    expect(page.get_by_text(EMPTY_STATE)).to_be_visible()
    send(page, "Thinner noodles, please")
    expect(mine(page, "Thinner noodles, please")).to_have_count(1)
    expect(page.locator(".oma-msg-agent .oma-bubble", has_text="Got it")).to_have_count(1)
    expect(page.locator(".oma-receipt", has_text="delivered to step 1")).to_have_count(1)
    expect(mine(page, "Thinner noodles, please")).to_have_count(1)
    stack.client.cancel_run(scenario.run.id)
    expect(page.get_by_text(ENDED)).to_be_visible()
    expect(chat_input(page)).to_be_disabled()
