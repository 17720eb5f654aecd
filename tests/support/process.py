"""A service under test as a real subprocess: started, probed until healthy, stopped."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import TracebackType
from typing import Self

from infra.processes import stop_process, wait_http_ok

ROOT = Path(__file__).resolve().parents[2]
STOP_TIMEOUT_S = 10.0


class ServiceProcess:
    """Subclasses give ``name``, ``argv()``, ``health_url`` and ``ready_timeout``."""

    name = "service"
    ready_timeout = 30.0

    def __init__(self, *, log_path: Path, env: dict[str, str]) -> None:
        self.log_path = log_path
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def argv(self) -> list[str]:
        raise NotImplementedError

    @property
    def health_url(self) -> str:
        raise NotImplementedError

    def start(self) -> Self:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv(), cwd=ROOT, env=self.env, stdout=log, stderr=log
            )
        try:
            wait_http_ok(
                self.health_url, timeout=self.ready_timeout, process=self.process, name=self.name
            )
        except (RuntimeError, TimeoutError) as error:
            self.stop()
            raise type(error)(f"{error}; see {self.log_path}") from None
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, STOP_TIMEOUT_S)
            self.process = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
