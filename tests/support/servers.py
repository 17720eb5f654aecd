"""Real processes for integration tests: the local engine and ``python -m api`` on free ports."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

from infra.local_engine import free_port

ROOT = Path(__file__).resolve().parents[2]
#: Long enough for a cold start of the API (imports + table creation).
API_READY_TIMEOUT_S = 30.0
API_STOP_TIMEOUT_S = 10.0


class ApiServer:
    """``python -m api`` (uvicorn, real HTTP) as a subprocess, pointed at an engine."""

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
        self.log_path = log_path
        self.env = {
            **os.environ,
            "OMAKASE_API_HOST": "127.0.0.1",
            "OMAKASE_API_PORT": str(self.port),
            "OMAKASE_API_TOKEN": token,
            "OMAKASE_DYNAMODB_ENDPOINT": endpoint,
            "OMAKASE_TABLE_PREFIX": prefix,
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=10.0, **kwargs)  # type: ignore[arg-type]

    def start(self) -> ApiServer:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "api"], cwd=ROOT, env=self.env, stdout=log, stderr=log
        )
        log.close()
        deadline = time.monotonic() + API_READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the API exited early; see {self.log_path}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"the API did not become healthy; see {self.log_path}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=API_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
