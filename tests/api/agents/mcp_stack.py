"""A real API (``python -m api``, no pipeline running) for tests of the ``omakase`` MCP server.

Each test creates a run in the store and starts the server (or the CLI that
starts it) with that run's agent token; the "person" answers over HTTP.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from api.agents.mcp_config import mcp_config
from api.auth import derive_agent_secret, mint_agent_token
from api.store.db import Db
from api.store.runs import create_run
from core.models import AgentRunCreate, AgentRunRole
from infra.local_engine import LocalEngine
from tests.conftest import TOKEN, api_on, fresh_engine_db
from tests.support.servers import ApiServer

WAIT_S = 30.0
POLL_S = 0.05


@dataclass
class Stack:
    server: ApiServer
    db: Db
    log_dir: Path

    def http(self) -> httpx.Client:
        return self.server.client()

    def new_run(self, role: AgentRunRole = AgentRunRole.CODER) -> str:
        with self.http() as client:
            project = client.post("/api/projects", json={"name": "mcp"}).json()
            feature = client.post(
                f"/api/projects/{project['id']}/features", json={"name": "Sessions"}
            ).json()
        run = create_run(
            self.db,
            data=AgentRunCreate(project_id=project["id"], feature_id=feature["id"], role=role),
        )
        return run.id

    def env(self, run_id: str, ask_timeout_s: float = 60.0) -> dict[str, str]:
        return {
            "OMAKASE_API_URL": self.server.url,
            "OMAKASE_RUN_ID": run_id,
            "OMAKASE_AGENT_TOKEN": mint_agent_token(derive_agent_secret(TOKEN), run_id),
            "OMAKASE_ASK_TIMEOUT_SECONDS": str(ask_timeout_s),
        }

    def get(self, path: str) -> Any:
        with self.http() as client:
            response = client.get(path)
            assert response.status_code == 200, response.text
            return response.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        with self.http() as client:
            response = client.post(path, json=body)
            assert response.status_code in (200, 201), response.text
            return response.json()

    def thread(self, run_id: str) -> list[dict[str, Any]]:
        return list(self.get(f"/api/agent-runs/{run_id}/messages"))


@pytest.fixture(scope="module", name="stack")
def stack_fixture(engine: LocalEngine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    db = fresh_engine_db(engine)
    root = tmp_path_factory.mktemp("mcp")
    server = api_on(
        db,
        endpoint=engine.endpoint,
        log_path=root / "api.log",
        env={"OMAKASE_AUTO_START_FEATURES": "false", "OMAKASE_WORKSPACE_ROOT": str(root)},
    ).start()
    try:
        yield Stack(server=server, db=db, log_dir=root)
    finally:
        server.stop()


@asynccontextmanager
async def connect(stack: Stack, env: dict[str, str]) -> AsyncIterator[ClientSession]:
    """The server exactly as an agent CLI starts it: the config ``mcp_config`` gives."""
    entry = mcp_config(python=sys.executable, env=env)["mcpServers"]["omakase"]
    params = StdioServerParameters(command=entry["command"], args=entry["args"], env=entry["env"])
    with (stack.log_dir / "mcp-stderr.log").open("a") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


async def wait_until(check: Callable[[], Any], what: str) -> Any:
    with anyio.fail_after(WAIT_S):
        while True:
            value = await anyio.to_thread.run_sync(check)
            if value:
                return value
            await anyio.sleep(POLL_S)
    raise AssertionError(what)  # pragma: no cover - fail_after raises first


def open_question(stack: Stack, run_id: str) -> Callable[[], dict[str, Any] | None]:
    def check() -> dict[str, Any] | None:
        questions = [m for m in stack.thread(run_id) if m["type"] == "question"]
        run = stack.get(f"/api/agent-runs/{run_id}")
        return questions[-1] if questions and run["status"] == "waiting" else None

    return check


def text_of(result: Any) -> str:
    return "".join(block.text for block in result.content if block.type == "text")
