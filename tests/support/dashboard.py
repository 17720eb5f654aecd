"""The real dashboard (``streamlit run dashboard.py``) as a subprocess, and a live scenario.

``start_running_agent`` creates a project and a feature over the HTTP API and
starts the feature's real pipeline (demo runner), so the dashboard shows a
genuinely running agent with its own process, logs and replies.
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
from core.client import ApiClient
from core.models import AgentRun, AgentRunRole, AgentStatus, Feature, Project
from infra.local_engine import free_port

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_READY_TIMEOUT_S = 60.0
DASHBOARD_STOP_TIMEOUT_S = 10.0


class DashboardServer:
    """``streamlit run dashboard.py`` on a free port, pointed at an API."""

    def __init__(
        self, *, api_url: str, token: str, log_path: Path, env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.env = {
            **os.environ,
            "OMAKASE_API_URL": api_url,
            "OMAKASE_API_TOKEN": token,
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
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


#: Longest wait for the pipeline to put the first agent to work.
AGENT_START_TIMEOUT_S = 30.0
AGENT_START_POLL_S = 0.2
#: Environment of an API that runs the real pipeline with the demo agent, for tests:
#: fast monitor ticks, and features start only when a test starts them.
PIPELINE_ENV = {
    "OMAKASE_RUNNER": "demo",
    "OMAKASE_MONITOR_INTERVAL_SECONDS": "0.5",
    "OMAKASE_AUTO_START_FEATURES": "false",
    "OMAKASE_DEMO_STEP_SECONDS": "2",
}


@dataclass(frozen=True, slots=True)
class Scenario:
    project: Project
    feature: Feature
    run: AgentRun
    #: The run-scoped token the agent process got (posts as the agent).
    agent_token: str


def start_running_agent(
    api: ApiClient,
    *,
    api_token: str,
    project_name: str,
    feature_name: str = "Tonkotsu broth",
    behaviour: str = "[hold-architect]",
) -> Scenario:
    """A project whose feature's pipeline is running: the architect (Miso) holds its step.

    The demo agent's ``[hold-architect]`` switch keeps step 1 running until the
    run is cancelled, so a test has a live agent for as long as it needs.
    """
    project = api.create_project(project_name, description="A demo project")
    feature = api.create_feature(project.id, feature_name, description=behaviour)
    api.start_feature(feature.id)
    deadline = time.monotonic() + AGENT_START_TIMEOUT_S
    while time.monotonic() < deadline:
        for agent in api.list_agents(project.id):
            if agent.role is AgentRunRole.ARCHITECT and agent.status is AgentStatus.RUNNING:
                assert agent.current_run_id is not None
                run = api.get_run(agent.current_run_id)
                token = mint_agent_token(derive_agent_secret(api_token), run.id)
                return Scenario(project, feature, run, token)
        time.sleep(AGENT_START_POLL_S)
    raise TimeoutError(f"no agent started working on {feature_name} in time")
