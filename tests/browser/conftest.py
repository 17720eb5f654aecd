"""Browser tests: Debian's chromium (Playwright) against the real dashboard, API and engine.

One API process (running the real pipeline with the demo agent) and one
dashboard process per module, on free ports, over the session's local engine
with a fresh table prefix. Each test starts its own project, so tests never
see each other's agents. Every test leaves a
screenshot in ``test-artifacts/`` (also when it fails).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from api.store.db import Db
from core.client import ApiClient
from infra.local_engine import LocalEngine
from tests.conftest import TOKEN, api_on, fresh_engine_db
from tests.support.dashboard import PIPELINE_ENV, DashboardServer
from tests.support.servers import ApiServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1440, "height": 900}
#: Playwright's default wait for expectations (the chat refreshes every second).
EXPECT_TIMEOUT_MS = 15_000
expect.set_options(timeout=EXPECT_TIMEOUT_MS)


@dataclass(frozen=True, slots=True)
class Stack:
    api: ApiServer
    dashboard: DashboardServer
    db: Db
    client: ApiClient


@pytest.fixture(scope="module")
def stack(
    engine: LocalEngine, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Stack]:
    """The stack of a test module; a module's ``DASHBOARD_ENV`` configures the dashboard,
    its ``API_ENV`` the API (e.g. a slower monitor, so a message stays queued)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make chromium` installs Debian's chromium")
    logs = tmp_path_factory.mktemp("browser-logs")
    db = fresh_engine_db(engine)
    env = {
        **PIPELINE_ENV,
        # The tests post as an agent faster than the per-token rate limit allows.
        "OMAKASE_AGENT_MESSAGE_BURST": "1000",
        **getattr(request.module, "API_ENV", {}),
        "OMAKASE_WORKSPACE_ROOT": str(logs / "workspaces"),
    }
    with api_on(db, endpoint=engine.endpoint, log_path=logs / "api.log", env=env) as api:
        dashboard = DashboardServer(
            api_url=api.url,
            token=TOKEN,
            log_path=logs / "dashboard.log",
            env=getattr(request.module, "DASHBOARD_ENV", None),
        )
        with dashboard, ApiClient(api.url, TOKEN) as client:
            yield Stack(api, dashboard, db, client)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    # Package scope, not session: Playwright's sync API keeps an event loop running
    # in the main thread while it is open, and later tests that call asyncio.run()
    # would fail with "cannot be called from a running event loop".
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, artifacts_dir: Path, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)  # type: ignore[arg-type]
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    opened = context.new_page()
    try:
        yield opened
    finally:
        opened.screenshot(path=str(artifacts_dir / f"{request.node.name}.png"))
        context.close()
