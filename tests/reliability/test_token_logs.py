"""No secret in a log: a token ``python -m api`` generates is never printed in full.

``python -m api`` run bare on loopback (no ``OMAKASE_API_TOKEN``) generates the
operator token; its log names it by fingerprint and says which file (mode 0600)
holds it. The test reads every line the process printed (stdout and stderr,
uvicorn's access lines included) while a person uses the token from that file
and a feature's first step runs with its agent token: neither token, nor the
agent-token secret, appears in any line.
"""

from __future__ import annotations

import re
import stat
import time
from pathlib import Path

import httpx

from api.auth import derive_agent_secret, mint_agent_token
from api.store.db import Db
from core.secret_file import fingerprint
from infra.local_engine import LocalEngine
from tests.reliability.conftest import api_server

#: Long enough for the demo pipeline to start the feature's first step.
FIRST_STEP_TIMEOUT_S = 20.0
POLL_S = 0.2


def test_a_generated_token_is_logged_only_as_its_fingerprint_and_file(
    engine: LocalEngine, rel_db: Db, tmp_path: Path
) -> None:
    server = api_server(
        engine.endpoint,
        rel_db,
        tmp_path,
        "bare",
        OMAKASE_API_TOKEN="",
        OMAKASE_DEMO_STEP_SECONDS="5",
    ).start()
    try:
        log = server.log_path.read_text()
        said = re.search(r"generated a token for this run \((sha256:[0-9a-f]+)\), in (\S+) ", log)
        assert said is not None, log
        path = Path(said.group(2))
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        token = path.read_text().strip()
        assert fingerprint(token) == said.group(1)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=10.0) as http:
            project = http.post("/api/projects", json={"name": "Logs"}).json()
            feature = http.post(
                f"/api/projects/{project['id']}/features", json={"name": "Quiet"}
            ).json()
            assert http.post(f"/api/features/{feature['id']}/start").status_code == 202
            deadline = time.monotonic() + FIRST_STEP_TIMEOUT_S
            runs: list[dict[str, str]] = []
            while not runs and time.monotonic() < deadline:
                time.sleep(POLL_S)
                listed = http.get(f"/api/projects/{project['id']}/agent-runs")
                runs = [r for r in listed.json() if r["featureId"] == feature["id"]]
            assert runs, "the feature's first step did not start"
            assert http.get(f"/api/agent-runs/{runs[0]['id']}/messages").status_code == 200
    finally:
        server.stop()
    lines = server.log_path.read_text().splitlines()
    assert len(lines) > 3  # start-up, the warning, access lines
    secret = derive_agent_secret(token)
    agent_token = mint_agent_token(secret, runs[0]["id"])
    for line in lines:
        assert token not in line
        assert agent_token not in line
        assert agent_token.rsplit(".", 1)[1] not in line  # not even its MAC
        assert secret.hex() not in line
