"""The local DynamoDB engine: dynalite (npm), LevelDB on disk, bound to 127.0.0.1.

Why dynalite: it installs offline from the npm registry (its LevelDB binaries
ship in the package), speaks the DynamoDB wire protocol to boto3, supports
GSIs and LSIs, and persists with ``--path``. It lacks transactions, which the
store does not need (see ``api.store.messages``).

Used by the run command (``python -m infra.local_engine serve``) and by the
integration test fixtures (``LocalEngine`` on a free port).
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from infra.processes import stop_process

ENGINE_DIR = Path(__file__).resolve().parent / "local_dynamodb"
CLI = ENGINE_DIR / "node_modules" / "dynalite" / "cli.js"
#: Our launcher (dynalite plus: survive clients that die mid-request).
SERVE = ENGINE_DIR / "serve.js"
HOST = "127.0.0.1"
#: How long the engine may take to accept connections after it starts.
READY_TIMEOUT_S = 20.0
READY_POLL_S = 0.05
#: Table state changes are instant locally (dynalite defaults to 500 ms).
TABLE_STATE_MS = "0"
STOP_TIMEOUT_S = 5.0


def ensure_installed() -> Path:
    """Install dynalite from the npm registry (``npm ci``) if it is not there yet."""
    if not CLI.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is needed to install the local DynamoDB engine (dynalite).")
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=ENGINE_DIR,
            check=True,
        )
    return CLI


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = READY_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(READY_POLL_S)
    raise TimeoutError(f"nothing listens on {HOST}:{port} after {timeout:.0f} s")


class LocalEngine:
    """A dynalite process; ``with LocalEngine(data_dir) as engine: engine.endpoint``."""

    def __init__(self, data_dir: Path | None, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def command(self) -> list[str]:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("Node.js is needed to run the local DynamoDB engine.")
        ensure_installed()
        args = [node, str(SERVE), "--host", HOST, "--port", str(self.port)]
        args += ["--createTableMs", TABLE_STATE_MS, "--deleteTableMs", TABLE_STATE_MS]
        args += ["--updateTableMs", TABLE_STATE_MS]
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            args += ["--path", str(self.data_dir)]
        return args

    def start(self) -> LocalEngine:
        self.process = subprocess.Popen(
            self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            wait_for_port(self.port)
        except TimeoutError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the engine (SIGTERM, then SIGKILL); data on disk stays."""
        if self.process is not None:
            stop_process(self.process, STOP_TIMEOUT_S)
            self.process = None

    def kill(self) -> None:
        """Kill the engine abruptly (fault-injection tests)."""
        if self.process is not None:
            self.process.kill()
            stop_process(self.process, STOP_TIMEOUT_S)
            self.process = None

    def __enter__(self) -> LocalEngine:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help="install dynalite from the npm registry")
    serve = sub.add_parser("serve", help="run the engine in the foreground")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--path", type=Path, default=Path(".data/dynamodb"))
    args = parser.parse_args(argv)
    if args.command == "install":
        print(ensure_installed())
        return 0
    engine = LocalEngine(args.path, args.port)
    return subprocess.call(engine.command())


if __name__ == "__main__":
    sys.exit(main())
