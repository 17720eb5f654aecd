"""Waking the process that runs a live step, for a message POSTed through another process.

Why: the live step's session finds such a message by its store poll (every
``LIVE_POLL_S``, 1 s); the process that stored it can tell the owner at once.
No new infrastructure: the owner is the feature's claim (``ownerId``), its
address is in its heartbeat (``Settings.wake_address``), and the call is one
local HTTP request with the operator token every API process already holds.

Why exactly-once does not change: the wake only *offers* the stored message to
the owner's bus, as its own poll would. The session still writes it after the
same conditional ``queued → sent`` receipt and skips ids it has seen, so a wake,
a poll, or both deliver it once; a lost wake leaves the poll as before.
The wake runs after the 201 (a background task): it never delays the POST.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from api.services.bus import MessageBus
from api.store.claims import read_claim
from api.store.db import Db
from api.store.errors import NotFoundError
from api.store.receipts import message_at
from api.store.workers import read_heartbeat
from core.models import AgentMessage, AgentRun, DeliveryMode, MessageSender, ReceiptState

log = logging.getLogger(__name__)

#: One wake call's limit: past it, the owner's store poll delivers anyway.
WAKE_TIMEOUT_S = 1.0
WAKE_PATH = "/api/internal/agent-runs/{run_id}/wake"

#: How long a feature's owner address is reused without reading the claim and the
#: heartbeat again (a stale one only costs a wake that finds no live step: the poll stays).
OWNER_CACHE_S = 5.0

Poster = Callable[[str, dict[str, Any], dict[str, str]], None]

_lock = threading.Lock()
_client: httpx.Client | None = None
_owners: dict[str, tuple[str, float]] = {}


def _post(url: str, body: dict[str, Any], headers: dict[str, str]) -> None:
    """One pooled client: the owner's connection is kept alive between wakes."""
    global _client
    with _lock:
        if _client is None:
            _client = httpx.Client(timeout=WAKE_TIMEOUT_S)
        client = _client
    client.post(url, json=body, headers=headers).raise_for_status()


def _owner_address(db: Db, feature_id: str) -> str:
    now = time.monotonic()
    with _lock:
        cached = _owners.get(feature_id)
    if cached is not None and cached[1] > now:
        return cached[0]
    owner = read_claim(db, feature_id=feature_id).owner_id
    heartbeat = read_heartbeat(db, worker_id=owner) if owner else None
    address = heartbeat.address if heartbeat is not None else ""
    with _lock:
        _owners[feature_id] = (address, now + OWNER_CACHE_S)
    return address


def needs_wake(message: AgentMessage, run: AgentRun, bus: MessageBus) -> bool:
    """A live message for a live step that does not listen in this process."""
    receipt = message.receipt
    return (
        message.sender is MessageSender.USER
        and message.mode in (DeliveryMode.STEER, DeliveryMode.INTERRUPT)
        and message.reply_to is None
        and receipt is not None
        and receipt.state is ReceiptState.QUEUED
        and run.is_active
        and run.live
        and not bus.is_live_here(run.id)
    )


def wake_owner(
    db: Db, *, run: AgentRun, message: AgentMessage, api_token: str, post: Poster = _post
) -> bool:
    """Tell the feature's owner that ``message`` is stored; True when the call was made."""
    try:
        address = _owner_address(db, run.feature_id)
        if not address:
            return False
        url = address + WAKE_PATH.format(run_id=run.id)
        post(url, {"cursor": message.cursor}, {"Authorization": f"Bearer {api_token}"})
    except Exception as error:  # the owner's poll delivers it: a wake is only a shortcut
        log.info("could not wake the owner of run %s: %s", run.id, error)
        return False
    return True


def offer_woken(db: Db, bus: MessageBus, *, run_id: str, cursor: str) -> bool:
    """The owner's side: hand the stored message to this process's live step, if here."""
    if not bus.is_live_here(run_id):
        return False
    try:
        message = message_at(db, run_id=run_id, cursor=cursor)
    except NotFoundError:
        return False
    if message.sender is not MessageSender.USER:
        return False
    bus.publish(message)
    return True
