"""Timestamps of a message's hops, for the benchmarks only (``OMAKASE_HOP_LOG=<file>``).

Why: the path of a steer or an interrupt crosses threads and processes (the
POST, the step's session thread, the CLI, the model); a tail found at the end
says nothing about where it grew. With the variable set, each hop appends
``<CLOCK_MONOTONIC seconds> <hop> <key>`` to the file (the monotonic clock is
one clock for every process of the machine, so ``bench/live_steering.py`` lines
them up with its own). Unset (always, outside a bench), ``hop`` is one
attribute check.
"""

from __future__ import annotations

import os
import threading
import time
from typing import IO

_lock = threading.Lock()
_path = os.environ.get("OMAKASE_HOP_LOG") or None
_file: IO[str] | None = None


def hop(name: str, key: str) -> None:
    """Record that ``key`` (a message id) passed ``name`` now; a no-op unless enabled."""
    global _file
    if _path is None:
        return
    at = time.monotonic()
    with _lock:
        if _file is None:
            _file = open(_path, "a", buffering=1)  # noqa: SIM115 - open for the process's life
        _file.write(f"{at:.6f} {name} {key}\n")
