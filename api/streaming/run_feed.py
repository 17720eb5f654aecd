"""One run's feed: its thread's new messages for every viewer of this process.

The feed learns of new messages in two ways and de-duplicates by cursor in its
window (``api.streaming.window``):

* **the in-process bus** — a message committed by this process (a POST handled
  here, a status notice, the pipeline) is appended and fanned out at once;
* **a poll** every ``settings.stream_poll_seconds`` (1 s) — a strongly consistent
  "messages after my head" query that finds writes made by other API processes.

Each subscriber remembers the last cursor it sent and only ever sends the
cursors after it, from the window when the window covers them, else from the
store — so a resuming viewer costs a read only when it is far behind.

Closing: every status change posts a notice (``api.services.status``), so a
status/error message makes the feed re-read the run; a terminal status is
acted on once ``STREAM_CLOSE_GRACE_S`` has passed since the run ended (the end
notice is written just after the status change), with a safety re-read every
``STATUS_REFRESH_S`` for changes made without a notice.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from api.store.messages import list_messages
from api.streaming.feed import STREAM_CLOSE_GRACE_S, Feed, FeedHost, Subscription
from api.streaming.window import Entry, FeedWindow
from api.streaming.wire import close_event, message_event, retry_hint
from core.cursor import format_cursor, parse_cursor
from core.models import AgentMessage, AgentRun, AgentRunStatus, MessageType

#: Largest backlog one store read fetches for a viewer behind the window.
BACKLOG_PAGE_MESSAGES = 500

STATUS_TYPES = frozenset({MessageType.STATUS, MessageType.ERROR})


def seconds_since(timestamp: str | None) -> float:
    if timestamp is None:
        return float("inf")
    moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    return (datetime.now(UTC) - moment).total_seconds()


def _entry(message: AgentMessage) -> Entry:
    return parse_cursor(message.cursor), message_event(message)


class RunFeed(Feed):
    """One run's new messages for every subscriber of this process (event-loop only)."""

    def __init__(self, hub: FeedHost, run_id: str, first_after: int) -> None:
        super().__init__(hub, run_id)
        self.run_id = run_id
        self.window = FeedWindow(first_after)
        #: The terminal status, once every message up to the head is final.
        self.ended: AgentRunStatus | None = None

    @property
    def finished(self) -> bool:
        return self.ended is not None

    def _forget_unknown(self) -> None:
        self.ended = AgentRunStatus.FAILED

    async def read_after(self, sent: int) -> list[Entry]:
        """Entries after ``sent``: from the window, or a page from the store if behind it."""
        if self.window.covers(sent):
            return self.window.entries_after(sent)
        limit = min(self.window.base - sent, BACKLOG_PAGE_MESSAGES)
        messages = await self.hub.read_store(
            list_messages, self.hub.db, run_id=self.run_id, since=format_cursor(sent), limit=limit
        )
        return [_entry(m) for m in messages]

    def absorb(self, messages: list[AgentMessage]) -> None:
        """Merge messages (from the bus or a poll): append contiguous ones, park the rest."""
        if any(m.type in STATUS_TYPES for m in messages):
            self._need_status = True
            self._poll_now.set()
        result = self.window.absorb([_entry(m) for m in messages], settled=self.ready.is_set())
        if result.gap:
            self._poll_now.set()  # read the missing range from the store
        if result.grew:
            self._notify()

    async def _read(self, *, first: bool, need_status: bool) -> None:
        run, messages = await self.hub.read_store(
            self.hub.read_run_feed,
            run_id=self.run_id,
            after=self.window.head,
            with_status=need_status,
        )
        if first:
            if not messages and self.window.head > 0:
                # Resuming past the real end of the thread (a stale or foreign id):
                # learn the real head, so later commits are not skipped.
                head = await self.hub.read_store(
                    self.hub.read_head_at_most, run_id=self.run_id, at_most=self.window.head
                )
                self.window.restart_at(head)
            self._opened()
        self.absorb(messages)
        if run is not None:
            self._status_read_at = time.monotonic()
            self._consider_end(run)

    def _consider_end(self, run: AgentRun) -> None:
        if not run.status.is_terminal:
            self._recheck_at = None
            return
        remaining = STREAM_CLOSE_GRACE_S - seconds_since(run.completed_at or run.updated_at)
        if remaining > 0:
            self._recheck_at = time.monotonic() + remaining
            return
        # The status was read before the messages, after the grace: every message is in.
        self._recheck_at = None
        if not self.window.ahead:
            self.ended = run.status
            self._notify()
        else:  # fill the gap first, then decide again
            self._need_status = True
            self._poll_now.set()


class RunSubscription(Subscription):
    """One SSE viewer of one run."""

    def __init__(self, hub: FeedHost, feed: RunFeed, after: int) -> None:
        super().__init__(hub, feed)
        self.run_feed = feed
        self.after = after

    async def events(self) -> AsyncIterator[bytes]:
        """The retry hint, every message after ``after`` exactly once in order, then close."""
        feed = self.run_feed
        sent = self.after
        try:
            yield retry_hint()
            await feed.ready.wait()
            while True:
                changed = feed.changed
                if sent < feed.window.head:  # (a caught-up viewer skips the read)
                    batch = await feed.read_after(sent)
                    progressed = False
                    for sequence, event in batch:
                        if sequence == sent + 1:
                            yield event
                            sent = sequence
                            progressed = True
                        # anything else (<= sent) was already sent: dropped
                    if progressed:
                        continue
                if feed.ended is not None and sent >= feed.window.head:
                    yield close_event(feed.ended)
                    return
                await changed.wait()
        finally:
            self.release()
