"""``make run``: start everything locally — the DynamoDB engine, the API, the dashboard.

Each part runs as its own process with its log under ``.data/logs/``; this
supervisor waits for each to be ready, prints where to open what, and stops
them all on Ctrl-C (or when one of them dies). Data persists under ``.data/``.

The operator token is generated once into ``.data/api-token`` (or taken from
``OMAKASE_API_TOKEN``) and handed to the API and the dashboard. The file is
created with mode 0600 in one step (a private temporary file renamed into
place: never briefly world-readable, never half-written) and the token is
never printed: the banner shows its fingerprint, terminal scroll-back and
CI logs keep no copy.
"""

from __future__ import annotations

import os
import secrets
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from api.agents.demo_project import seed_demo_project, top_up_demo_project
from core.secret_file import SECRET_FILE_MODE as SECRET_FILE_MODE
from core.secret_file import fingerprint as fingerprint
from core.secret_file import write_secret_file as write_secret_file
from infra.local_engine import LocalEngine, wait_for_port
from infra.processes import stop_process, wait_http_ok

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".data"
LOGS = DATA / "logs"
TOKEN_FILE = DATA / "api-token"
WORKSPACES = ROOT / ".workspaces"
#: The demo project's git repository, made on the first start (hidden from agents with .data/).
DEMO_REPO = DATA / "demo-repo"
ENGINE_PORT = int(os.environ.get("OMAKASE_ENGINE_PORT", "8000"))
API_PORT = int(os.environ.get("OMAKASE_API_PORT", "8765"))
DASHBOARD_PORT = int(os.environ.get("OMAKASE_DASHBOARD_PORT", "8501"))
READY_TIMEOUT_S = 60.0
SUPERVISE_POLL_S = 0.5
STOP_TIMEOUT_S = 10.0
#: How often the demo project is checked for work (an encore feature is added when idle).
DEMO_TOP_UP_S = 15.0


def operator_token() -> str:
    configured = os.environ.get("OMAKASE_API_TOKEN")
    if configured:
        return configured
    if TOKEN_FILE.exists():
        if stat.S_IMODE(TOKEN_FILE.stat().st_mode) & ~SECRET_FILE_MODE:
            TOKEN_FILE.chmod(SECRET_FILE_MODE)  # a file from an older version, or copied in
        return TOKEN_FILE.read_text().strip()
    token = secrets.token_urlsafe(24)
    write_secret_file(TOKEN_FILE, token + "\n")
    return token


def banner(token: str) -> str:
    """What ``make run`` prints once everything is up (the token only as a fingerprint)."""
    return (
        "\nOmakase agent chat is running:\n"
        f"  dashboard  http://127.0.0.1:{DASHBOARD_PORT}\n"
        f"  API        http://127.0.0.1:{API_PORT}  (docs: /docs)\n"
        f"  API token  {fingerprint(token)}  (the token: {_token_source()})\n"
        f"  logs       {LOGS.relative_to(ROOT)}/\n"
        "Press Ctrl-C to stop."
    )


def _token_source() -> str:
    if os.environ.get("OMAKASE_API_TOKEN"):
        return "$OMAKASE_API_TOKEN"
    return str(TOKEN_FILE.relative_to(ROOT))


@dataclass
class Part:
    name: str
    argv: list[str]
    ready: Callable[[], None]
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        with (LOGS / f"{self.name}.log").open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=log,
                # Own session: a Ctrl-C reaches only this supervisor, which then stops the
                # parts in reverse order (the API records interrupted runs before the
                # engine goes away).
                start_new_session=True,
            )

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, STOP_TIMEOUT_S)


def parts(token: str) -> list[Part]:
    engine = LocalEngine(DATA / "dynamodb", ENGINE_PORT)
    api_url = f"http://127.0.0.1:{API_PORT}"
    shared = {
        "OMAKASE_API_TOKEN": token,
        "OMAKASE_API_URL": api_url,
        "OMAKASE_DYNAMODB_ENDPOINT": engine.endpoint,
        "OMAKASE_API_HOST": "127.0.0.1",
        "OMAKASE_API_PORT": str(API_PORT),
        # Outside .data/: the sandbox hides .data/ (engine data, token) from agents.
        "OMAKASE_WORKSPACE_ROOT": str(WORKSPACES),
        "PYTHONUNBUFFERED": "1",
    }
    return [
        Part("dynamodb", engine.command(), lambda: wait_for_port(ENGINE_PORT)),
        Part(
            "api",
            [sys.executable, "-m", "api"],
            lambda: wait_http_ok(f"{api_url}/healthz", timeout=READY_TIMEOUT_S),
            env=shared,
        ),
        Part(
            "dashboard",
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "dashboard.py",
                "--server.port",
                str(DASHBOARD_PORT),
                "--server.address",
                "127.0.0.1",
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
            ],
            lambda: wait_http_ok(
                f"http://127.0.0.1:{DASHBOARD_PORT}/_stcore/health", timeout=READY_TIMEOUT_S
            ),
            env=shared,
        ),
    ]


def main() -> int:
    token = operator_token()
    running: list[Part] = []
    stopping = False

    def request_stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        for part in parts(token):
            if not Path(ROOT / "dashboard.py").exists() and part.name == "dashboard":
                continue
            print(f"starting {part.name} …", flush=True)
            part.start()
            running.append(part)
            part.ready()
            api_url = f"http://127.0.0.1:{API_PORT}"
            if part.name == "api" and seed_demo_project(api_url, token, repository=DEMO_REPO):
                print("created the demo project: its agents start within seconds", flush=True)
        print(banner(token), flush=True)
        next_top_up = time.monotonic() + DEMO_TOP_UP_S
        while not stopping:
            if time.monotonic() >= next_top_up:
                added = top_up_demo_project(f"http://127.0.0.1:{API_PORT}", token)
                if added:
                    print(f"demo: the agents start on a new feature, {added}", flush=True)
                next_top_up = time.monotonic() + DEMO_TOP_UP_S
            for part in running:
                if part.process is not None and part.process.poll() is not None:
                    print(
                        f"{part.name} exited ({part.process.returncode}); see "
                        f"{LOGS.relative_to(ROOT)}/{part.name}.log",
                        file=sys.stderr,
                    )
                    return 1
            time.sleep(SUPERVISE_POLL_S)
        return 0
    except TimeoutError as error:
        print(f"error: {error}; see {LOGS.relative_to(ROOT)}/", file=sys.stderr)
        return 1
    finally:
        for part in reversed(running):
            part.stop()
        print("stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
