"""Withdraw and edit from the pending list, in a real browser.

This module's API runs its monitor only every ``MONITOR_S`` seconds (the first
tick at start-up), so a message posted during the test stays ``queued`` — no
inbox write, no relay — for as long as the test needs: what a person sees when
the agent has not taken their message yet.
"""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Page, expect

from core.models import MessageSender, ReceiptState
from tests.browser.conftest import Stack
from tests.browser.test_dashboard import mine, open_chat_from_card, open_project, send
from tests.support.dashboard import start_running_agent

pytestmark = [pytest.mark.browser, pytest.mark.engine, pytest.mark.slow]

MONITOR_S = 600
API_ENV = {"OMAKASE_MONITOR_INTERVAL_SECONDS": str(MONITOR_S)}
PENDING = ".st-key-oma_pending"


def test_withdraw_and_edit_before_delivery(stack: Stack, page: Page) -> None:
    scenario = start_running_agent(
        stack.client, api_token=stack.api.token, project_name=f"Udon {uuid.uuid4().hex[:6]}"
    )
    open_project(page, stack, scenario)
    open_chat_from_card(page)
    send(page, "Use SQLite")
    send(page, "Use tabs")
    pending = page.locator(PENDING)
    expect(pending).to_contain_text("Waiting for delivery (2)")
    expect(pending).to_contain_text("Use SQLite")

    first = next(
        m
        for m in stack.client.list_messages(scenario.run.id, sender=MessageSender.USER)
        if m.content == "Use SQLite"
    )
    page.locator(f".st-key-oma_withdraw_{first.id} button").click()
    expect(pending).to_contain_text("Waiting for delivery (1)")
    expect(page.locator(".oma-receipt", has_text="withdrawn: no agent got it")).to_have_count(1)
    stored = stack.client.list_messages(scenario.run.id, sender=MessageSender.USER)
    receipts = {m.content: m.receipt.state if m.receipt else None for m in stored}
    assert receipts == {"Use SQLite": ReceiptState.WITHDRAWN, "Use tabs": ReceiptState.QUEUED}

    second = next(m for m in stored if m.content == "Use tabs")
    page.locator(f".st-key-oma_edit_{second.id} button").click()
    page.locator(f".st-key-oma_edit_text_{second.id} textarea").fill("Use 4 spaces")
    page.locator(f".st-key-oma_edit_save_{second.id} button").click()
    expect(mine(page, "Use 4 spaces")).to_have_count(1)
    expect(pending).to_contain_text("Use 4 spaces")
    after = stack.client.list_messages(scenario.run.id, sender=MessageSender.USER)
    states = {m.content: m.receipt.state if m.receipt else None for m in after}
    assert states == {
        "Use SQLite": ReceiptState.WITHDRAWN,
        "Use tabs": ReceiptState.WITHDRAWN,
        "Use 4 spaces": ReceiptState.QUEUED,
    }
    stack.client.cancel_run(scenario.run.id)
