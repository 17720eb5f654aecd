"""Real HTTP fixtures for the agent side: the local engine, ``python -m api`` with the demo runner.

Steps are short (``OMAKASE_DEMO_STEP_SECONDS``) and the monitor fast, so a
whole four-step pipeline takes a few seconds. Every test makes its own project,
so tests sharing the module's API process never see each other's features.
Waiting is polling with a deadline (``wait_for``), never a sleep-as-assertion.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from api.agents.home import AgentHome
from api.store.db import Db
from infra.local_engine import LocalEngine
from tests.conftest import api_on, fresh_engine_db
from tests.support.servers import ApiServer

STEP_SECONDS = "0.2"
MONITOR_SECONDS = "0.1"
#: Longest a test waits for a pipeline to get somewhere (a whole one takes ~3-6 s).
WAIT_TIMEOUT_S = 60.0
POLL_S = 0.05

T = TypeVar("T")


def wait_for(check: Callable[[], T | None], what: str, timeout: float = WAIT_TIMEOUT_S) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(POLL_S)


@dataclass
class Agents:
    """An API process running pipelines, with helpers to drive it over HTTP."""

    server: ApiServer
    workspaces: Path
    #: Longest wait for a pipeline milestone (a claude pipeline starts a CLI per step).
    timeout: float = WAIT_TIMEOUT_S

    @property
    def http(self) -> httpx.Client:
        return self.server.client()

    def new_feature(
        self,
        description: str = "",
        name: str = "Login page",
        *,
        project: dict[str, Any] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """A feature of a new project (``project``: more fields of it, e.g. its repository)."""
        with self.http as client:
            made = client.post("/api/projects", json={"name": f"agents {name}", **(project or {})})
            assert made.status_code == 201, made.text
            project = made.json()
            response = client.post(
                f"/api/projects/{project['id']}/features",
                json={"name": name, "description": description, **extra},
            )
            assert response.status_code == 201, response.text
            return dict(response.json())

    def feature(self, feature_id: str) -> dict[str, Any]:
        with self.http as client:
            return dict(client.get(f"/api/features/{feature_id}").json())

    def runs(self, feature: dict[str, Any]) -> list[dict[str, Any]]:
        """The feature's runs in pipeline order (step, attempt)."""
        with self.http as client:
            runs = client.get(f"/api/projects/{feature['projectId']}/agent-runs").json()
        mine = [r for r in runs if r["featureId"] == feature["id"]]
        return sorted(mine, key=lambda r: (r["step"], r["attempt"]))

    def active_run(self, feature: dict[str, Any], role: str) -> dict[str, Any] | None:
        for run in self.runs(feature):
            if run["role"] == role and run["status"] not in ("completed", "failed"):
                return run
        return None

    def wait_active(self, feature: dict[str, Any], role: str) -> dict[str, Any]:
        return wait_for(
            lambda: self.active_run(feature, role), f"an active {role} run", self.timeout
        )

    def wait_finished(self, feature: dict[str, Any]) -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            current = self.feature(feature["id"])
            return current if current["status"] in ("passing", "failing") else None

        return wait_for(finished, "the feature to finish", self.timeout)

    def messages(self, run_id: str) -> list[dict[str, Any]]:
        with self.http as client:
            return list(client.get(f"/api/agent-runs/{run_id}/messages").json())

    def received(self, feature: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """What each step's demo agent wrote: ``{"<step>-<attempt>": received}``."""
        folder = AgentHome.of(self.workspaces / feature["id"]).state
        return {
            path.stem.removeprefix("received-"): json.loads(path.read_text())
            for path in sorted(folder.glob("received-*.json"))
        }


def server_for(
    db: Db, engine: LocalEngine, log_dir: Path, workspaces: Path, **env: str
) -> ApiServer:
    return api_on(
        db,
        endpoint=engine.endpoint,
        log_path=log_dir / "api.log",
        env={
            "OMAKASE_DEMO_STEP_SECONDS": STEP_SECONDS,
            "OMAKASE_MONITOR_INTERVAL_SECONDS": MONITOR_SECONDS,
            "OMAKASE_WORKSPACE_ROOT": str(workspaces),
            "OMAKASE_RUNNER": "demo",
            **env,
        },
    )


@pytest.fixture(scope="module")
def agents_db(engine: LocalEngine) -> Db:
    return fresh_engine_db(engine)


@pytest.fixture(scope="module")
def agents(
    engine: LocalEngine, agents_db: Db, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Agents]:
    root = tmp_path_factory.mktemp("agents")
    server = server_for(agents_db, engine, root, root / "workspaces").start()
    try:
        yield Agents(server=server, workspaces=root / "workspaces")
    finally:
        server.stop()
