"""``python -m api``: serve the API with uvicorn on OMAKASE_API_HOST:OMAKASE_API_PORT."""

from __future__ import annotations

import logging
import sys

import uvicorn

from api.app import create_app
from api.hardening import mark_non_dumpable
from api.runtime import InsecureBindError
from api.settings import get_settings


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # First thing: its environment holds the operator token and the agent-token secret.
    mark_non_dumpable()
    settings = get_settings()
    try:
        app = create_app(settings)
    except InsecureBindError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    uvicorn.run(app, host=settings.api_host, port=settings.api_port, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
