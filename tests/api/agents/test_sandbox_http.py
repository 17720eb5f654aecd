"""Issue 13 item 1 end to end: a real API runs steps in the sandbox; an agent probes it.

The agent is ``sandbox_probe.py`` (the ``command`` runner), told what to try
through the feature's description. Without the sandbox (``none``, as root) the
first test fails: the probe reads the API's environment from ``/proc``; the
second fails too: a child that left the process group outlives the cancel.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.agents.home import HOMES_DIR
from api.agents.sandbox import DATA_DIR, bwrap_problem
from api.store.db import Db
from infra.local_engine import LocalEngine
from tests.api.agents.conftest import Agents, server_for, wait_for
from tests.conftest import TOKEN

pytestmark = [
    pytest.mark.engine,
    pytest.mark.skipif(
        bwrap_problem("bwrap") is not None, reason="bubblewrap cannot run here (make setup)"
    ),
]

PROBE = Path(__file__).resolve().parent / "sandbox_probe.py"
AGENT_SECRET = f"agent-secret-{secrets.token_hex(8)}"


@pytest.fixture(scope="module")
def token_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A token file kept outside ``.data/`` (hidden through OMAKASE_SANDBOX_HIDE)."""
    path = Path(tmp_path_factory.mktemp("secrets")) / "api-token"
    path.write_text(TOKEN + "\n")
    return path


@pytest.fixture(scope="module")
def sandboxed(
    engine: LocalEngine, agents_db: Db, tmp_path_factory: pytest.TempPathFactory, token_file: Path
) -> Iterator[Agents]:
    root = tmp_path_factory.mktemp("sandboxed")
    server = server_for(
        agents_db,
        engine,
        root,
        root / "workspaces",
        OMAKASE_RUNNER="command",
        OMAKASE_AGENT_COMMAND=f"{sys.executable} {PROBE}",
        OMAKASE_AGENT_SANDBOX="bwrap",
        OMAKASE_AGENT_TOKEN_SECRET=AGENT_SECRET,
        OMAKASE_SANDBOX_HIDE=json.dumps([str(token_file)]),
    ).start()
    try:
        yield Agents(server=server, workspaces=root / "workspaces")
    finally:
        server.stop()


@pytest.fixture
def data_marker() -> Iterator[Path]:
    """A file in the repository's real ``.data/`` (the local engine's folder)."""
    created = not DATA_DIR.exists()
    DATA_DIR.mkdir(exist_ok=True)
    marker = DATA_DIR / f"sandbox-test-{uuid.uuid4().hex}"
    marker.write_text("engine data\n")
    try:
        yield marker
    finally:
        marker.unlink()
        if created:
            shutil.rmtree(DATA_DIR, ignore_errors=True)


def feature_with(agents: Agents, spec: dict[str, Any]) -> dict[str, Any]:
    return agents.new_feature(json.dumps(spec), name="Sandbox probe")


def test_a_step_cannot_read_the_services_secrets_nor_write_outside(
    sandboxed: Agents, data_marker: Path, token_file: Path
) -> None:
    other = sandboxed.workspaces / "feat_other"
    other.mkdir(parents=True, exist_ok=True)
    (other / "notes.md").write_text("another feature's work\n")
    host_tmp = Path("/tmp") / f"host-{uuid.uuid4().hex}"
    host_tmp.write_text("host\n")
    inside_tmp = f"inside-{uuid.uuid4().hex}"
    repo_file = PROBE.parent / f"written-{uuid.uuid4().hex}"
    spec = {
        "mode": "report",
        "read": [str(data_marker), str(token_file), str(other / "notes.md")],
        "write": [str(repo_file), str(other / "tampered.md"), str(data_marker)],
        "tmp_marker": inside_tmp,
    }
    try:
        feature = feature_with(sandboxed, spec)
        assert sandboxed.wait_finished(feature)["status"] == "passing"
    finally:
        host_tmp.unlink()
    workspace = sandboxed.workspaces / feature["id"]
    report = json.loads((workspace / ".omakase" / "sandbox-1.json").read_text())

    environs = report["environs"]
    assert environs, "the probe could read no /proc/*/environ at all"
    assert any(f"OMAKASE_RUN_ID={sandboxed.runs(feature)[0]['id']}" in e for e in environs.values())
    for text in environs.values():
        assert TOKEN not in text
        assert AGENT_SECRET not in text
        assert "OMAKASE_API_TOKEN=" not in text
    assert len(report["pids"]) <= 3  # bwrap's init, the probe (and a /proc reader at most)

    reads = report["reads"]
    assert not any(value.startswith("read:") for value in reads.values()), reads
    assert all(value.startswith("error:") for value in report["writes"].values()), report
    assert not repo_file.exists()
    assert not (other / "tampered.md").exists()
    assert data_marker.read_text() == "engine data\n"

    assert host_tmp.name not in report["tmp"]
    assert not (Path("/tmp") / inside_tmp).exists()
    assert report["workspace_root"] == sorted([HOMES_DIR, feature["id"]])
    home = sandboxed.workspaces / HOMES_DIR / feature["id"]
    assert report["home"] == str(home)
    assert report["home_write"] == "written"
    assert (home / "probe.txt").read_text() == "probe\n"


def processes_with(marker: str) -> list[int]:
    """Host pids whose command line holds the marker (the host's own process table)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_cancel_ends_every_process_of_the_step(sandboxed: Agents) -> None:
    marker = f"linger-{uuid.uuid4().hex}"
    feature = feature_with(sandboxed, {"mode": "linger", "marker": marker})
    flag = sandboxed.workspaces / feature["id"] / ".omakase" / "lingering"
    wait_for(flag.exists, "the lingering agent to start its children")
    assert len(processes_with(marker)) == 2  # the two children, seen from the host
    run = sandboxed.wait_active(feature, "architect")
    with sandboxed.http as client:
        assert client.post(f"/api/agent-runs/{run['id']}/cancel").status_code == 200
    assert sandboxed.wait_finished(feature)["status"] == "failing"
    wait_for(lambda: not processes_with(marker), "every process of the step to end")


def test_cancel_gives_the_agent_its_grace_to_clean_up(sandboxed: Agents) -> None:
    """bwrap exits at the SIGTERM at once; the agent inside still gets the grace period."""
    feature = feature_with(sandboxed, {"mode": "graceful"})
    folder = sandboxed.workspaces / feature["id"] / ".omakase"
    wait_for((folder / "lingering").exists, "the agent to start waiting")
    run = sandboxed.wait_active(feature, "architect")
    with sandboxed.http as client:
        assert client.post(f"/api/agent-runs/{run['id']}/cancel").status_code == 200
    assert sandboxed.wait_finished(feature)["status"] == "failing"
    assert (folder / "terminated").read_text() == "cleaned up\n"


def test_a_required_sandbox_that_cannot_start_fails_the_step_clearly(
    engine: LocalEngine, engine_db: Db, tmp_path: Path
) -> None:
    # Its own tables: the module's sandboxed API must not pick this feature up.
    server = server_for(
        engine_db,
        engine,
        tmp_path,
        tmp_path / "workspaces",
        OMAKASE_AGENT_SANDBOX="bwrap",
        OMAKASE_BWRAP_BIN="/nonexistent/bwrap",
    ).start()
    try:
        agents = Agents(server=server, workspaces=tmp_path / "workspaces")
        feature = agents.new_feature("demo")
        assert agents.wait_finished(feature)["status"] == "failing"
        first = agents.runs(feature)[0]
    finally:
        server.stop()
    assert first["status"] == "failed"
    assert first["errorMessage"].startswith(
        "Could not start the agent: OMAKASE_AGENT_SANDBOX=bwrap but the sandbox cannot start"
    )
    assert "/nonexistent/bwrap" in first["errorMessage"]
