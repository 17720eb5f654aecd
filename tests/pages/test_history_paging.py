"""The history page reads every page of every list: the real API (in-process, moto), pages of 2."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from fastapi.testclient import TestClient
from streamlit.testing.v1 import AppTest

from api.store.db import Db
from api.store.runs import create_run
from core.client import ApiClient
from core.models import AgentRunCreate, AgentRunRole
from pages.lib.api import CLIENT_KEY
from tests.conftest import TOKEN
from tests.support.http import as_httpx

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 30.0
PAGE_SIZE = 2


def test_the_history_page_and_its_downloads_hold_every_message(
    client: TestClient, moto_db: Db
) -> None:
    api = ApiClient("http://testserver", TOKEN, http=as_httpx(client), page_size=PAGE_SIZE)
    project = api.create_project("Paged")
    features = [api.create_feature(project.id, f"Dish {n}") for n in range(3)]
    runs = [
        create_run(moto_db, data=AgentRunCreate(project_id=project.id, feature_id=f.id, role=role))
        for f in features[:2]
        for role in (AgentRunRole.ARCHITECT, AgentRunRole.CODER, AgentRunRole.REVIEWER)
    ]
    for run in runs:
        for n in range(5):
            api.post_message(run.id, f"{run.id} note {n}")
    page = AppTest.from_file(str(ROOT / "pages/history.py"), default_timeout=TIMEOUT_S)
    page.session_state[CLIENT_KEY] = api
    page.run()
    assert not page.exception
    assert any("30 of 30 messages" in c.value for c in page.caption)
    frame: pd.DataFrame = page.session_state["oma_history"][1]
    assert len(frame) == 30  # what the CSV / Parquet / JSON buttons download

    page.selectbox(key="oma_h_feature").select(features[1]).run()
    assert not page.exception
    assert any("15 of 15 messages" in c.value for c in page.caption)
    markdown = page.session_state["oma_history_md"]
    for run in runs[3:]:
        for n in range(5):
            assert f"{run.id} note {n}" in markdown
