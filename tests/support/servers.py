"""Real processes for integration tests: ``python -m api`` on a free port (real HTTP)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import httpx

from infra.local_engine import free_port
from tests.support.process import ServiceProcess


class ApiServer(ServiceProcess):
    """``python -m api`` (uvicorn, real HTTP) as a subprocess, pointed at an engine."""

    name = "the API"
    #: Long enough for a cold start of the API (imports + table creation).
    ready_timeout = 30.0

    def __init__(
        self,
        *,
        endpoint: str,
        prefix: str,
        token: str,
        log_path: Path,
        port: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.token = token
        super().__init__(
            log_path=log_path,
            env={
                **os.environ,
                "OMAKASE_API_HOST": "127.0.0.1",
                "OMAKASE_API_PORT": str(self.port),
                "OMAKASE_API_TOKEN": token,
                "OMAKASE_DYNAMODB_ENDPOINT": endpoint,
                "OMAKASE_TABLE_PREFIX": prefix,
                "PYTHONUNBUFFERED": "1",
                **(env or {}),
            },
        )

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "api"]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def health_url(self) -> str:
        return f"{self.url}/healthz"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=10.0, **kwargs)  # type: ignore[arg-type]
