"""Posting messages: the store append plus the in-process wake-up of streams.

Every message the service writes goes through ``post_message`` so that no
writer forgets to notify the stream hub.
"""

from __future__ import annotations

import threading
import zlib
from typing import Unpack

from api.services.bus import MessageBus
from api.store.db import Db
from api.store.messages import MessageFields, create_message
from core.models import (
    AgentMessage,
    AgentRun,
    MessageSender,
)

#: Appends to one run are serial by nature (key n+1 follows n). Writers of the
#: same run in this process take turns on a striped lock instead of racing for
#: the same key and losing conflicts (each loss costs a put and a consistent
#: read): 8 concurrent writers went from ~38 to ~130 appends/s on the local engine.
#: Other processes still race through the store's conditional put.
APPEND_LOCK_STRIPES = 64
_append_locks = tuple(threading.Lock() for _ in range(APPEND_LOCK_STRIPES))


def _append_lock(run_id: str) -> threading.Lock:
    return _append_locks[zlib.crc32(run_id.encode()) % APPEND_LOCK_STRIPES]


def post_message(
    db: Db,
    bus: MessageBus,
    *,
    run: AgentRun,
    sender: MessageSender,
    content: str,
    **fields: Unpack[MessageFields],
) -> tuple[AgentMessage, bool]:
    """Append a message to ``run``'s thread and wake this process's streams.

    Returns ``(message, created)``; see ``api.store.messages.create_message``.
    """
    with _append_lock(run.id):
        message, created = create_message(db, run=run, sender=sender, content=content, **fields)
        if created:
            # Inside the lock: this process publishes in commit order, so its
            # streams see no gap (a gap costs the hub a store read).
            bus.publish(message)
    return message, created
