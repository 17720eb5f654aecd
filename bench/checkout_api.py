"""An API process from another checkout (a bench's ``before`` variant), started like ours.

``python -m api`` resolves from its working directory first (this checkout), so the
other checkout is put first on ``sys.path`` and its ``api`` run as ``__main__``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from infra.local_engine import LocalEngine
from tests.support.servers import ApiServer

TOKEN = "bench-token"


class CheckoutApi(ApiServer):
    """``python -m api`` from another checkout (the ``before`` variant), same everything else."""

    def __init__(self, checkout: Path | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.checkout = checkout

    def argv(self) -> list[str]:
        if self.checkout is None:
            return super().argv()
        start = (
            f"import sys, runpy; sys.path.insert(0, {str(self.checkout)!r}); "
            "runpy.run_module('api', run_name='__main__', alter_sys=True)"
        )
        return [sys.executable, "-c", start]


def api(
    engine: LocalEngine,
    root: Path,
    name: str,
    env: dict[str, str],
    checkout: Path | None,
    prefix: str,
) -> CheckoutApi:
    """One API process; processes of a variant share ``prefix`` (the same tables)."""
    return CheckoutApi(
        checkout,
        endpoint=engine.endpoint,
        prefix=prefix,
        token=TOKEN,
        log_path=root / f"{name}.log",
        env={
            "OMAKASE_WORKSPACE_ROOT": str(root / name),
            "OMAKASE_MONITOR_INTERVAL_SECONDS": "0.2",
            **env,
        },
    )
