"""The API process is non-dumpable: another process of its user cannot read its environment.

The readers are real processes of the same OS user. As root every process has
``CAP_SYS_PTRACE``, which overrides the flag, so under root both sides run as
``nobody`` (``setpriv``); the control (an unmarked process) shows that such a
reader can read an environment, so the denial comes from the flag alone.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.store.db import Db
from infra.local_engine import LocalEngine
from tests.support.servers import ApiServer

SECRET = "hardening-secret-value"
NOBODY = 65534
#: Longest a helper process may take to start and answer.
PROCESS_TIMEOUT_S = 30.0
AS_USER = (
    ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    if os.geteuid() == 0
    else []
)
TARGET = """
import sys
if sys.argv[1] == "mark":
    from api.hardening import mark_non_dumpable
    assert mark_non_dumpable()
print("ready", flush=True)
sys.stdin.read()
"""
READER = """
import sys
try:
    text = open(f"/proc/{sys.argv[1]}/environ", "rb").read().decode()
except PermissionError:
    print("denied")
else:
    print("read" if sys.argv[2] in text else "read-without-secret")
"""
ROOT = Path(__file__).resolve().parents[2]


def read_environ_of(pid: int) -> str:
    done = subprocess.run(
        [*AS_USER, sys.executable, "-c", READER, str(pid), SECRET],
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT_S,
        check=True,
    )
    return done.stdout.strip()


@pytest.mark.parametrize(("mode", "expected"), [("mark", "denied"), ("plain", "read")])
def test_a_non_dumpable_process_keeps_its_environment(mode: str, expected: str) -> None:
    target = subprocess.Popen(
        [*AS_USER, sys.executable, "-c", TARGET, mode],
        cwd=ROOT,
        env={**os.environ, "HARDENING_SECRET": SECRET},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert target.stdout is not None
        assert target.stdout.readline() == "ready\n"
        assert read_environ_of(target.pid) == expected
    finally:
        target.communicate("", timeout=PROCESS_TIMEOUT_S)


class ApiAsUser(ApiServer):
    """``python -m api`` as ``nobody`` when the tests run as root."""

    def argv(self) -> list[str]:
        return [*AS_USER, *super().argv()]


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A workspace root ``nobody`` can write (pytest's own tmp folders are 0700 under root)."""
    with tempfile.TemporaryDirectory(prefix="hardening-") as folder:
        os.chmod(folder, stat.S_IRWXU | stat.S_IRWXG | stat.S_IRWXO)  # noqa: S103
        yield Path(folder)


@pytest.mark.engine
def test_the_api_process_marks_itself_non_dumpable(
    engine: LocalEngine, engine_db: Db, open_folder: Path
) -> None:
    server = ApiAsUser(
        endpoint=engine.endpoint,
        prefix=engine_db.prefix,
        token=SECRET,
        log_path=open_folder / "api.log",
        env={"OMAKASE_WORKSPACE_ROOT": str(open_folder / "workspaces")},
    ).start()
    try:
        assert server.process is not None
        pid = server.process.pid
        if AS_USER:  # setpriv execs the API in place: same pid
            assert "api" in Path(f"/proc/{pid}/cmdline").read_text()
        assert read_environ_of(pid) == "denied"
    finally:
        server.stop()
