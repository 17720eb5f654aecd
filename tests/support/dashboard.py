"""The real dashboard (``streamlit run dashboard.py``) as a subprocess, and scenario seeding.

``seed_running_agent`` puts a project into the state the pipeline would: a
feature with a run of one role, that agent ``running`` on it. It writes runs
and agents through the store (as the pipeline does); everything a user does
afterwards goes through the HTTP API.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx

from api.auth import derive_agent_secret, mint_agent_token
from api.store.agents import update_agent
from api.store.db import Db
from api.store.runs import create_run
from core.client import ApiClient
from core.models import AgentRun, AgentRunCreate, AgentRunRole, AgentStatus, Feature, Project
from infra.local_engine import free_port

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_READY_TIMEOUT_S = 60.0
DASHBOARD_STOP_TIMEOUT_S = 10.0


class DashboardServer:
    """``streamlit run dashboard.py`` on a free port, pointed at an API."""

    def __init__(self, *, api_url: str, token: str, log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.env = {
            **os.environ,
            "OMAKASE_API_URL": api_url,
            "OMAKASE_API_TOKEN": token,
            "PYTHONUNBUFFERED": "1",
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> DashboardServer:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "streamlit", "run", "dashboard.py",
                "--server.port", str(self.port), "--server.address", "127.0.0.1",
                "--server.headless", "true", "--browser.gatherUsageStats", "false",
                "--server.fileWatcherType", "none",
            ],
            cwd=ROOT, env=self.env, stdout=log, stderr=log,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + DASHBOARD_READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the dashboard exited early; see {self.log_path}")
            try:
                if httpx.get(f"{self.url}/_stcore/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"the dashboard did not start; see {self.log_path}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=DASHBOARD_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def __enter__(self) -> DashboardServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass(frozen=True, slots=True)
class Scenario:
    project: Project
    feature: Feature
    run: AgentRun
    #: The run-scoped token the agent process would get (posts as the agent).
    agent_token: str


def seed_running_agent(
    api: ApiClient,
    db: Db,
    *,
    api_token: str,
    role: AgentRunRole = AgentRunRole.CODER,
    project_name: str = "Ramen shop",
    feature_name: str = "Tonkotsu broth",
) -> Scenario:
    project = api.create_project(project_name, description="A demo project")
    feature = api.create_feature(project.id, feature_name)
    run = create_run(
        db,
        data=AgentRunCreate(project_id=project.id, feature_id=feature.id, role=role, step=2),
    )
    update_agent(
        db,
        project_id=project.id,
        role=role,
        status=AgentStatus.RUNNING,
        current_run_id=run.id,
        current_feature_id=feature.id,
    )
    token = mint_agent_token(derive_agent_secret(api_token), run.id)
    return Scenario(project, feature, run, token)
