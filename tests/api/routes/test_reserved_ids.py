"""Ids the service mints for its own messages are refused from clients (issue 13 item 8).

A client that posted ``rcpt-<id>`` first would take the id of the delivery
notice the relay posts later, so the real notice would be lost as a "retry".
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.store.db import Db
from core.models import RESERVED_ID_PREFIXES
from tests.api.routes.test_messages import agent_auth, make_run, url
from tests.conftest import AUTH


@pytest.mark.parametrize("prefix", ["rcpt-", "nodl-", "notice-", "live-", "ask-", "cmt-", "push-"])
def test_reserved_prefixes_are_422(client: TestClient, moto_db: Db, prefix: str) -> None:
    assert prefix in RESERVED_ID_PREFIXES
    run = make_run(client, moto_db)
    for headers in (AUTH, agent_auth(client, run.id)):
        response = client.post(
            url(run), json={"content": "x", "id": f"{prefix}msg_1"}, headers=headers
        )
        assert response.status_code == 422
        assert response.json() == {
            "detail": "Invalid body field 'id': Message ids starting with "
            "'rcpt-', 'nodl-', 'notice-', 'live-', 'ask-', 'cmt-' or 'push-' are reserved "
            "for the service."
        }


def test_other_client_ids_are_fine(client: TestClient, moto_db: Db) -> None:
    run = make_run(client, moto_db)
    response = client.post(url(run), json={"content": "x", "id": "cli-rcpt-1"}, headers=AUTH)
    assert response.status_code == 201
