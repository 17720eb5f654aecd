"""The real dashboard (``streamlit run dashboard.py``) as a subprocess, and a live scenario.

``start_running_agent`` creates a project and a feature over the HTTP API and
starts the feature's real pipeline (demo runner), so the dashboard shows a
genuinely running agent with its own process, logs and replies.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from api.auth import derive_agent_secret, mint_agent_token
from core.client import ApiClient
from core.models import AgentRun, AgentRunRole, AgentStatus, Feature, Project
from infra.local_engine import free_port
from tests.support.process import ServiceProcess


class DashboardServer(ServiceProcess):
    """``streamlit run dashboard.py`` on a free port, pointed at an API."""

    name = "the dashboard"
    ready_timeout = 60.0

    def __init__(
        self, *, api_url: str, token: str, log_path: Path, env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        super().__init__(
            log_path=log_path,
            env={
                **os.environ,
                "OMAKASE_API_URL": api_url,
                "OMAKASE_API_TOKEN": token,
                "PYTHONUNBUFFERED": "1",
                **(env or {}),
            },
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def health_url(self) -> str:
        return f"{self.url}/_stcore/health"

    def argv(self) -> list[str]:
        return [
            sys.executable, "-m", "streamlit", "run", "dashboard.py",
            "--server.port", str(self.port), "--server.address", "127.0.0.1",
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none",
        ]  # fmt: skip


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
    max_concurrency: int | None = None,
) -> Scenario:
    """A project whose feature's pipeline is running: the architect (Miso) holds its step.

    The demo agent's ``[hold-architect]`` switch keeps step 1 running until the
    run is cancelled, so a test has a live agent for as long as it needs.
    """
    project = api.create_project(
        project_name, description="A demo project", max_concurrency=max_concurrency
    )
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
