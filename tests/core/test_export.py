"""core.export: the paginated DataFrame export, its file formats, and the CLI over real HTTP."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from api.auth import derive_agent_secret, mint_agent_token
from api.store.db import Db
from api.store.runs import create_run
from core.client import ApiClient
from core.export import (
    COLUMNS,
    FORMATS,
    ExportProgress,
    export_feature_markdown,
    export_messages,
    rows_to_frame,
    to_bytes,
)
from core.export_runs import RUN_COLUMNS, runs_frame
from core.models import AgentRun, AgentRunCreate, AgentRunRole, RunUsage
from infra.local_engine import LocalEngine
from tests.conftest import TOKEN, api_on, fresh_engine_db
from tests.support.http import as_httpx
from tests.support.process import ROOT


@pytest.fixture
def api(client: TestClient) -> ApiClient:
    return ApiClient("http://testserver", TOKEN, http=as_httpx(client))


def seed(api: ApiClient, db: Db, client: TestClient) -> tuple[str, str, list[AgentRun]]:
    project = api.create_project("Export me")
    broth = api.create_feature(project.id, "Broth")
    noodles = api.create_feature(project.id, "Noodles")
    runs = [
        create_run(
            db, data=AgentRunCreate(project_id=project.id, feature_id=f.id, role=role, step=step)
        )
        for f, role, step in (
            (broth, AgentRunRole.ARCHITECT, 1),
            (broth, AgentRunRole.CODER, 2),
            (noodles, AgentRunRole.ARCHITECT, 1),
        )
    ]
    for run in runs:
        agent = {"Authorization": f"Bearer {mint_agent_token(derive_agent_secret(TOKEN), run.id)}"}
        for n in range(3):
            api.post_message(run.id, f"question {n} for {run.role.value}")
            reply = client.post(
                f"/api/agent-runs/{run.id}/messages",
                json={"content": f"answer {n} <b>"},
                headers=agent,
            )
            assert reply.status_code == 201
    return project.id, broth.id, runs


def test_export_reads_every_page_of_every_run(
    api: ApiClient, moto_db: Db, client: TestClient
) -> None:
    project_id, _, runs = seed(api, moto_db, client)
    updates: list[ExportProgress] = []
    frame = export_messages(api, project_id=project_id, page_size=2, progress=updates.append)
    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == 18
    assert frame["timestamp"].is_monotonic_increasing
    assert set(frame["runId"]) == {r.id for r in runs}
    assert set(frame["featureName"]) == {"Broth", "Noodles"}
    assert (frame[frame["sender"] == "agent"]["agentName"].isin(["Miso", "Nori"])).all()
    assert updates[-1] == ExportProgress(3, 3, 18, updates[-1].run_id)
    # Three pages of two for each run's six messages, plus one "run done" each.
    assert len(updates) == 3 * (3 + 1)


def test_export_of_a_feature_and_of_a_run(api: ApiClient, moto_db: Db, client: TestClient) -> None:
    project_id, broth_id, runs = seed(api, moto_db, client)
    feature = export_messages(api, project_id=project_id, feature_id=broth_id)
    assert set(feature["runId"]) == {runs[0].id, runs[1].id}
    one = export_messages(api, project_id=project_id, run_id=runs[1].id)
    assert set(one["runId"]) == {runs[1].id}
    assert list(one["step"].unique()) == [2]


@pytest.mark.parametrize("fmt", FORMATS)
def test_file_formats_round_trip(api: ApiClient, moto_db: Db, client: TestClient, fmt: str) -> None:
    project_id, _, _ = seed(api, moto_db, client)
    frame = export_messages(api, project_id=project_id)
    data = to_bytes(frame, fmt)  # type: ignore[arg-type]
    if fmt == "csv":
        back = pd.read_csv(io.BytesIO(data))
    elif fmt == "parquet":
        back = pd.read_parquet(io.BytesIO(data))
    else:
        back = pd.read_json(io.BytesIO(data), orient="records")
    assert list(back["content"]) == list(frame["content"])
    assert list(back["cursor"].astype(str).str.zfill(12)) == list(frame["cursor"])


@pytest.mark.engine
def test_feature_markdown_export_reads_every_page(
    api: ApiClient, moto_db: Db, client: TestClient
) -> None:
    _, broth, _ = seed(api, moto_db, client)
    text = export_feature_markdown(api, feature_id=broth, page_size=2)
    assert text.startswith("# Broth\n")
    assert [line for line in text.splitlines() if line.startswith("### ")] == [
        "### Step 1 · Miso 🍜 architect",
        "### Step 2 · Nori 🍙 coder",
    ]
    assert text.count("answer 2 &lt;b&gt;") == 2  # every page of both runs
    guidance = text.split("## Human guidance incorporated", 1)[1]
    assert guidance.count("not delivered yet (queued)") == 6


def test_cli_writes_the_file_and_shows_progress(engine: LocalEngine, tmp_path: Path) -> None:
    db = fresh_engine_db(engine)
    env = {"OMAKASE_AUTO_START_FEATURES": "false"}
    log = tmp_path / "api.log"
    with (
        api_on(db, endpoint=engine.endpoint, log_path=log, env=env) as server,
        ApiClient(server.url, TOKEN) as api,
    ):
        project = api.create_project("CLI")
        feature = api.create_feature(project.id, "Broth")
        api.create_feature(project.id, "Noodles")  # the features list: two pages of one
        run = create_run(
            db,
            data=AgentRunCreate(
                project_id=project.id, feature_id=feature.id, role=AgentRunRole.CODER
            ),
        )
        for n in range(5):
            api.post_message(run.id, f"note {n}")
        out = tmp_path / "history.parquet"
        cli_env = {
            **os.environ,
            "OMAKASE_API_URL": server.url,
            "OMAKASE_API_TOKEN": TOKEN,
            "OMAKASE_API_PAGE_SIZE": "1",  # every list in pages of one
        }
        done = subprocess.run(
            [sys.executable, "-m", "core.export", "--project", project.id, "--feature", feature.id,
             "--format", "parquet", "--out", str(out), "--page-size", "2"],
            cwd=ROOT, capture_output=True, text=True, timeout=60, env=cli_env,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "runs 1/1 · 5 messages" in done.stderr
        assert f"wrote 5 messages to {out} (parquet)" in done.stderr
        written = pd.read_parquet(out)
        assert list(written.columns) == list(COLUMNS)
        assert list(written["content"]) == [f"note {n}" for n in range(5)]

        missing = subprocess.run(
            [sys.executable, "-m", "core.export", "--project", "nope", "--out", str(out)],
            cwd=ROOT, capture_output=True, text=True, timeout=60, env=cli_env,
        )  # fmt: skip
        assert missing.returncode == 1
        assert "error: Project nope" in missing.stderr


def test_csv_neutralises_spreadsheet_formulas() -> None:
    """Issue 13 item 8: a chat message "=HYPERLINK(…)" must not run when the CSV is opened."""
    hostile = ['=HYPERLINK("http://evil","x")', "+1+1", "-2", "@SUM(A1)", "\tcmd", "\rcmd"]
    frame = pd.DataFrame(
        {
            "content": [*hostile, "plain text", "a = b"],
            "featureName": ["=cmd|' /C calc'!A0"] + ["F"] * 7,
            "step": list(range(8)),
        }
    )
    back = pd.read_csv(io.BytesIO(to_bytes(frame, "csv")), keep_default_na=False)
    assert list(back["content"]) == [f"'{text}" for text in hostile] + ["plain text", "a = b"]
    assert back["featureName"][0] == "'=cmd|' /C calc'!A0"
    assert list(back["step"]) == list(range(8))
    # Parquet and JSON keep the text exactly (they are data, not spreadsheets).
    assert list(pd.read_parquet(io.BytesIO(to_bytes(frame, "parquet")))["content"])[:6] == hostile


def test_the_export_carries_what_each_run_cost() -> None:
    usage = RunUsage(turns=4, input_tokens=2_000, output_tokens=500, cost_usd=0.125)
    paid, free = (
        AgentRun(
            id=run_id,
            project_id="prj",
            feature_id="ftr",
            role=AgentRunRole.CODER,
            started_at=f"2026-11-30T10:0{n}:00.000000Z",
            updated_at=f"2026-11-30T10:0{n}:00.000000Z",
            usage=usage if n == 0 else None,
        )
        for n, run_id in enumerate(("run_paid", "run_free"))
    )
    rows = [
        {
            "id": f"m{n}",
            "runId": run.id,
            "featureId": "ftr",
            "projectId": "prj",
            "sender": "agent",
            "content": "done",
            "timestamp": f"2026-11-30T10:0{n}:01.000000Z",
            "cursor": "1",
            "receipt": {"state": "delivered", "channel": "live"} if n == 0 else None,
        }
        for n, run in enumerate((paid, free))
    ]
    frame = rows_to_frame(rows, {paid.id: paid, free.id: free}, {"ftr": "Broth"})
    assert list(frame.columns) == list(COLUMNS)
    assert frame["runCostUsd"].tolist()[0] == 0.125
    assert pd.isna(frame["runCostUsd"].tolist()[1])
    assert frame["runTurns"].tolist()[0] == 4
    assert frame["receiptChannel"].tolist()[0] == "live"

    runs = runs_frame([free, paid], {"ftr": "Broth"})
    assert list(runs.columns) == list(RUN_COLUMNS)
    assert runs["runId"].tolist() == ["run_paid", "run_free"]
    assert runs["costUsd"].sum() == 0.125
    assert runs["inputTokens"].tolist()[0] == 2_000
    assert pd.isna(runs["turns"].tolist()[1])
