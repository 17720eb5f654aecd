"""A dashboard that cannot use the API says so in a banner, never with a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from infra.local_engine import free_port
from tests.browser.conftest import Stack
from tests.support.dashboard import DashboardServer

pytestmark = [pytest.mark.browser, pytest.mark.engine, pytest.mark.slow]


@pytest.fixture
def misconfigured(
    request: pytest.FixtureRequest, tmp_path: Path, stack: Stack
) -> Iterator[DashboardServer]:
    api_url, token = request.param
    url = api_url or stack.api.url
    with DashboardServer(api_url=url, token=token, log_path=tmp_path / "dashboard.log") as server:
        yield server


@pytest.mark.parametrize(
    ("misconfigured", "banner"),
    [
        ((f"http://127.0.0.1:{free_port()}", "any"), "is unreachable"),
        ((None, "not-the-token"), "The API refused the dashboard's token."),
    ],
    indirect=["misconfigured"],
    ids=["api-down", "wrong-token"],
)
def test_banner_instead_of_a_traceback(
    misconfigured: DashboardServer, page: Page, banner: str
) -> None:
    page.goto(misconfigured.url)
    expect(page.get_by_text(banner)).to_be_visible()
    expect(page.get_by_text("Traceback")).to_have_count(0)
    page.goto(f"{misconfigured.url}/history")
    expect(page.get_by_text(banner)).to_be_visible()
