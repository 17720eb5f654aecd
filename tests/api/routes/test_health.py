"""``/healthz`` is open, so it says "unavailable" without the store's own error text."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.routes.health import UNAVAILABLE_DETAIL
from api.settings import Settings
from api.store.db import Db


def test_healthz_does_not_leak_store_errors(
    moto_db: Db, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    missing = Db(client=moto_db.client, prefix="secret-prefix-")  # tables that do not exist
    app = create_app(settings, missing, service_factories=())
    with TestClient(app) as client, caplog.at_level(logging.WARNING):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "detail": UNAVAILABLE_DETAIL}
    assert "secret-prefix-" not in response.text
    assert "table is missing" in caplog.text  # the operator still finds the reason in the log
