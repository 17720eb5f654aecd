"""``GET /healthz``: liveness plus "the store answers". Open, no token.

Open to anyone who can reach the port, so a failure says only "unavailable":
the store's own error text (table names, the endpoint, AWS messages) goes to
this process's log, where the operator looks, not to the caller.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from api.deps import DbDep
from api.store.db import ping
from api.store.errors import StoreError

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])

UNAVAILABLE_DETAIL = "The store does not answer this API process; its log says why."


@router.get("/healthz", summary="Liveness and store reachability")
async def healthz(db: DbDep, response: Response) -> dict[str, str]:
    try:
        await run_in_threadpool(ping, db)
    except StoreError as error:
        log.warning("health check failed: %s", error)
        response.status_code = 503
        return {"status": "unavailable", "detail": UNAVAILABLE_DETAIL}
    return {"status": "ok"}
