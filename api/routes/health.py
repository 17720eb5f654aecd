"""``GET /healthz``: liveness plus "the store answers". Open, no token."""

from __future__ import annotations

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from api.deps import DbDep
from api.store.db import ping
from api.store.errors import StoreError

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness and store reachability")
async def healthz(db: DbDep, response: Response) -> dict[str, str]:
    try:
        await run_in_threadpool(ping, db)
    except StoreError as error:
        response.status_code = 503
        return {"status": "unavailable", "detail": str(error)}
    return {"status": "ok"}
