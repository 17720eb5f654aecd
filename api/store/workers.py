"""API process heartbeats (the ``workers`` table).

Why: several API processes may share one store, and a feature's pipeline is
owned by exactly one of them (``api.store.claims``). When that process dies
without releasing its claims, the others must notice: each process writes a
heartbeat item every few seconds; an owner whose heartbeat is older than the
stale threshold is considered gone, its running step is marked failed, and its
features are taken over. ``expiresAt`` lets DynamoDB's TTL clean up old items.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

from api.store.codec import from_item, to_item
from api.store.db import Db
from api.store.errors import store_errors
from core.models import iso, utc_now
from core.tables import WORKERS

#: How long after its last beat a worker item is removed by DynamoDB's TTL.
WORKER_TTL_S = 24 * 3600


@dataclass(frozen=True, slots=True)
class Heartbeat:
    worker_id: str
    #: Epoch seconds of the last beat.
    beat_at: float
    host: str = ""
    pid: int = 0
    #: Where the other API processes reach this one (``Settings.wake_address``).
    address: str = ""


def beat(db: Db, *, worker_id: str, started_at: str, address: str = "") -> Heartbeat:
    """Write this process's heartbeat (an unconditional put: it is ours alone)."""
    now = time.time()
    host = socket.gethostname()
    item: dict[str, object] = {
        "id": worker_id,
        "startedAt": started_at,
        "heartbeatAt": iso(utc_now()),
        "beatAt": now,
        "expiresAt": int(now) + WORKER_TTL_S,
        "host": host,
        "pid": os.getpid(),
        "address": address,
    }
    with store_errors("write the heartbeat"):
        db.client.put_item(TableName=db.table(WORKERS), Item=to_item(item))
    return Heartbeat(worker_id=worker_id, beat_at=now, host=host, pid=os.getpid(), address=address)


def read_heartbeat(db: Db, *, worker_id: str) -> Heartbeat | None:
    with store_errors("read a heartbeat"):
        raw = db.client.get_item(
            TableName=db.table(WORKERS), Key=to_item({"id": worker_id}), ConsistentRead=True
        ).get("Item")
    if raw is None:
        return None
    item = from_item(raw)
    return Heartbeat(
        worker_id=worker_id,
        beat_at=float(item.get("beatAt", 0)),
        host=str(item.get("host", "")),
        pid=int(item.get("pid", 0)),
        address=str(item.get("address", "")),
    )


def remove_heartbeat(db: Db, *, worker_id: str) -> None:
    """A clean shutdown: the process says it is gone (its claims were released)."""
    with store_errors("remove the heartbeat"):
        db.client.delete_item(TableName=db.table(WORKERS), Key=to_item({"id": worker_id}))
