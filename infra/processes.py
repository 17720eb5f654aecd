"""Child-process lifecycle shared by the local engine, ``make run`` and the test servers.

One place for "stop politely, then for sure" and "wait until it answers",
so every supervisor treats a dying or slow child the same way.
"""

from __future__ import annotations

import subprocess
import time

import httpx

#: How often a readiness probe is repeated.
READY_POLL_S = 0.1
#: Timeout of one readiness probe.
PROBE_TIMEOUT_S = 1.0


def stop_process(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL; always reaps the child."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stderr is not None:
        process.stderr.close()


def wait_http_ok(
    url: str, *, timeout: float, process: subprocess.Popen[bytes] | None = None, name: str = ""
) -> None:
    """Return once ``url`` answers 200; fail early if ``process`` exits meanwhile."""
    what = name or url
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited early (code {process.returncode})")
        try:
            if httpx.get(url, timeout=PROBE_TIMEOUT_S).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(READY_POLL_S)
    raise TimeoutError(f"{what} did not answer 200 at {url} within {timeout:.0f} s")
