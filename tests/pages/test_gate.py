"""The dashboard is closed to the network (issue 13 item 6).

Unit tests of the guard (which addresses count as local, the constant-time
password check, the refusal sentence) and AppTest runs of ``dashboard.py``
itself: bound to all interfaces it asks for the password before any page
renders, and without a password it refuses to serve.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

from pages.lib.api import CLIENT_KEY
from pages.lib.gate import (
    PASSWORD_ENV,
    REFUSAL,
    exposure_problem,
    is_loopback,
    password_matches,
)
from tests.support.fake_api import FakeApi

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 30.0
PASSWORD = "correct horse battery staple"


def test_the_shipped_config_listens_on_loopback_only() -> None:
    shipped = tomllib.loads((ROOT / ".streamlit/config.toml").read_text())
    assert shipped["server"]["address"] == "127.0.0.1"


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.1", "::1", "localhost"])
def test_loopback_addresses(address: str) -> None:
    assert is_loopback(address)
    assert exposure_problem(address, password="") is None


@pytest.mark.parametrize("address", ["", "0.0.0.0", "::", "192.168.1.20", "dash.example.com"])
def test_any_other_address_needs_a_password(address: str) -> None:
    assert not is_loopback(address)
    assert exposure_problem(address, password=PASSWORD) is None
    assert exposure_problem(address, password="") == REFUSAL.format(address=address or "*")


def test_password_check() -> None:
    assert password_matches(PASSWORD, PASSWORD)
    assert not password_matches("correct horse", PASSWORD)
    assert not password_matches("", PASSWORD)
    assert not password_matches("anything", "")


@pytest.fixture
def exposed() -> Iterator[None]:
    before = config.get_option("server.address")
    config.set_option("server.address", "0.0.0.0")
    try:
        yield
    finally:
        config.set_option("server.address", before)


def dashboard() -> AppTest:
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=TIMEOUT_S)
    at.session_state[CLIENT_KEY] = FakeApi()
    return at


def test_exposed_dashboard_asks_for_the_password_before_any_page(
    exposed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    at = dashboard().run()
    assert not at.exception
    assert [t.label for t in at.text_input] == ["Dashboard password"]
    assert at.text_input[0].proto.type == at.text_input[0].proto.PASSWORD
    assert not at.title  # no page rendered
    at.text_input[0].input("guess")
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["That password is not right."]
    assert not at.title
    at.text_input[0].input(PASSWORD)
    at.button[0].click().run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Projects"]
    assert "Dashboard password" not in [t.label for t in at.text_input]


def test_exposed_dashboard_without_a_password_refuses(
    exposed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    at = dashboard().run()
    assert [e.value for e in at.error] == [REFUSAL.format(address="0.0.0.0")]
    assert not at.title
    assert not at.text_input


def test_local_dashboard_needs_no_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    before = config.get_option("server.address")
    config.set_option("server.address", "127.0.0.1")
    try:
        at = dashboard().run()
    finally:
        config.set_option("server.address", before)
    assert not at.exception
    assert [t.value for t in at.title] == ["Projects"]
