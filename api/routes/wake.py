"""``POST /api/internal/agent-runs/{runId}/wake``: another API process stored a live message.

Only the operator token (which every API process of a deployment holds) may
call it; what it does is ``api.services.wake.offer_woken``: the message at
``cursor`` is read and offered to this process's live step of the run, exactly
as the step's own store poll would, only sooner.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from starlette.concurrency import run_in_threadpool

from api.deps import OperatorDep, RuntimeDep
from api.routes.params import RunId
from api.services.wake import offer_woken
from core.cursor import CURSOR_DIGITS, is_cursor
from core.models import CamelModel, InputModel

router = APIRouter(tags=["internal"])


class WakeRequest(InputModel):
    cursor: str


class WakeResult(CamelModel):
    #: True when a live step of the run listens in this process and was offered it.
    woken: bool


@router.post(
    "/internal/agent-runs/{runId}/wake",
    summary="Internal: a message for a live step was stored by another API process",
)
async def post_wake(
    run_id: RunId, body: WakeRequest, runtime: RuntimeDep, _: OperatorDep
) -> WakeResult:
    if not is_cursor(body.cursor):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"Invalid body field 'cursor': '{body.cursor[:40]}' is not a message cursor "
            f"({CURSOR_DIGITS} digits).",
        )
    woken = await run_in_threadpool(
        offer_woken, runtime.db, runtime.bus, run_id=run_id, cursor=body.cursor
    )
    return WakeResult(woken=woken)
