"""One feature's feed: every run's messages of the feature, for every viewer of this process.

The feature's conversation is its runs' threads together. The feed keeps one
window (``api.streaming.window``) per run and, like a run feed, learns of new
messages from the in-process bus at once and from a fixed-rate poll that finds
other processes' writes. A poll reads the feature item (consistently: its status
and ``currentRunId``, so a new step is found within a poll) and every known
run's messages after its window's head; the run list itself comes from the
``by_feature`` index only when an unknown run shows up, plus the current run read
by id (the index is eventually consistent). Store reads therefore grow with the
features and their runs, never with the viewers.

Every run is polled, ended ones included: the relay posts delivery notices into
a message's own (older) thread, a withdrawal notice goes there too, and between
steps the feature's queued messages land in its last, ended, run.

A viewer's position is every run's last sent sequence (``wire.feature_event_id``):
it sends, run by run in pipeline order, the entries after its own position —
exactly once, per run in commit order, whatever process it resumes on.

Closing: once the feature is ``passing`` or ``failing``, ``STREAM_CLOSE_GRACE_S``
after its last update the feed re-reads the run list and every thread (status
read first), and ends when no gap is left.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from api.store.db import Db
from api.store.features import get_feature
from api.store.messages import list_messages
from api.store.runs import get_run, list_runs_for_feature
from api.streaming.feed import STREAM_CLOSE_GRACE_S, Feed, FeedHost, Subscription
from api.streaming.run_feed import BACKLOG_PAGE_MESSAGES, seconds_since
from api.streaming.window import Entry, FeedWindow
from api.streaming.wire import (
    close_event,
    feature_event_id,
    message_data,
    retry_hint,
    with_id,
)
from core.conversation import order_runs
from core.cursor import format_cursor, parse_cursor
from core.models import AgentMessage, AgentRun, Feature, FeatureStatus

ENDED_FEATURE_STATUSES = frozenset({FeatureStatus.PASSING, FeatureStatus.FAILING})


def _entry(message: AgentMessage) -> Entry:
    return parse_cursor(message.cursor), message_data(message)


@dataclass
class FeatureRead:
    """One poll's answer (read in a worker thread)."""

    feature: Feature
    #: The feature's runs in pipeline order, when they were (re)listed.
    runs: list[AgentRun] | None
    #: Every polled run's messages after the head it was asked from.
    messages: dict[str, list[AgentMessage]]


def read_feature_feed(
    db: Db, *, feature_id: str, heads: dict[str, int], list_runs: bool
) -> FeatureRead:
    """The feature first (its status then covers every message read after it), the run
    list when asked or when the current run is new, then each run's messages."""
    feature = get_feature(db, feature_id=feature_id)
    runs: list[AgentRun] | None = None
    current = feature.current_run_id
    if list_runs or (current is not None and current not in heads):
        listed = list_runs_for_feature(db, feature_id=feature_id)
        if current is not None and current not in {r.id for r in listed}:
            listed.append(get_run(db, run_id=current))
        runs = order_runs(listed)
    polled = dict(heads)
    for run in runs or []:
        polled.setdefault(run.id, 0)
    messages = {
        run_id: list_messages(db, run_id=run_id, since=format_cursor(head))
        for run_id, head in polled.items()
    }
    return FeatureRead(feature=feature, runs=runs, messages=messages)


class FeatureFeed(Feed):
    """One feature's messages for every subscriber of this process (event-loop only)."""

    def __init__(self, hub: FeedHost, feature_id: str) -> None:
        super().__init__(hub, feature_id)
        self.feature_id = feature_id
        #: Run ids in pipeline order (``core.conversation.order_runs``).
        self.order: list[str] = []
        #: One window per known run, from the thread's start.
        self.windows: dict[str, FeedWindow] = {}
        #: The feature's end status, once every message of every run is in.
        self.ended: FeatureStatus | None = None
        self._list_runs = True
        self._final_listing_done = False

    @property
    def finished(self) -> bool:
        return self.ended is not None or self.not_found is not None

    def _forget_unknown(self) -> None:
        self.ended = FeatureStatus.FAILING

    async def read_after(self, run_id: str, sent: int) -> list[Entry]:
        """A run's entries after ``sent``: from its window, or a page from the store."""
        window = self.windows[run_id]
        if window.covers(sent):
            return window.entries_after(sent)
        limit = min(window.base - sent, BACKLOG_PAGE_MESSAGES)
        messages = await self.hub.read_store(
            list_messages, self.hub.db, run_id=run_id, since=format_cursor(sent), limit=limit
        )
        return [_entry(m) for m in messages]

    def absorb(self, messages: list[AgentMessage]) -> None:
        """Merge messages (bus or poll) into their runs' windows; an unknown run is listed."""
        grew = gap = False
        for message in messages:
            window = self.windows.get(message.run_id)
            if window is None:
                # A run this feed does not know yet: the next poll lists the runs and
                # reads its thread from the start (this copy is read again there).
                self._list_runs = True
                self._poll_now.set()
                continue
            result = window.absorb([_entry(message)])
            grew, gap = grew or result.grew, gap or result.gap
        if gap:
            self._poll_now.set()
        if grew:
            self._notify()

    async def _read(self, *, first: bool, need_status: bool) -> None:
        # (need_status is moot here: every poll reads the feature item.)
        list_runs = self._list_runs
        self._list_runs = False
        heads = {run_id: window.head for run_id, window in self.windows.items()}
        try:
            read = await self.hub.read_store(
                read_feature_feed,
                self.hub.db,
                feature_id=self.feature_id,
                heads=heads,
                list_runs=list_runs,
            )
        except Exception:
            self._list_runs = self._list_runs or list_runs
            raise
        if read.runs is not None:
            for run in read.runs:
                self.windows.setdefault(run.id, FeedWindow())
            self.order = [run.id for run in read.runs] + [
                run_id for run_id in self.order if run_id not in {r.id for r in read.runs}
            ]
        if first:
            self._opened()
        self.absorb([m for run_id in self.order for m in read.messages.get(run_id, [])])
        self._status_read_at = time.monotonic()
        self._consider_end(read.feature, listed=list_runs)

    def _consider_end(self, feature: Feature, *, listed: bool) -> None:
        if feature.status not in ENDED_FEATURE_STATUSES:
            self._recheck_at = None
            return
        remaining = STREAM_CLOSE_GRACE_S - seconds_since(feature.updated_at)
        if remaining > 0:
            self._recheck_at = time.monotonic() + remaining
            return
        self._recheck_at = None
        if not listed and not self._final_listing_done:
            # One last listing after the grace: a run the index showed late is read too.
            self._list_runs = True
            self._poll_now.set()
            return
        self._final_listing_done = self._final_listing_done or listed
        if any(window.ahead for window in self.windows.values()):
            self._poll_now.set()  # fill the gap first, then decide again
            return
        self.ended = feature.status
        self._notify()


class FeatureSubscription(Subscription):
    """One SSE viewer of one feature's conversation."""

    def __init__(self, hub: FeedHost, feed: FeatureFeed, after: dict[str, int]) -> None:
        super().__init__(hub, feed)
        self.feature_feed = feed
        self.after = dict(after)

    async def events(self) -> AsyncIterator[bytes]:
        """The retry hint, every run's messages after ``after`` exactly once (per run in
        order, runs in pipeline order), then close once the feature ended."""
        feed = self.feature_feed
        sent = self.after
        try:
            yield retry_hint()
            await feed.ready.wait()
            while True:
                changed = feed.changed
                progressed = False
                for run_id in list(feed.order):
                    have = sent.get(run_id, 0)
                    if have >= feed.windows[run_id].head:
                        continue  # (a caught-up viewer skips the read)
                    for sequence, data in await feed.read_after(run_id, have):
                        if sequence == have + 1:
                            have = sent[run_id] = sequence
                            yield with_id(feature_event_id(sent), data)
                            progressed = True
                        # anything else (<= have) was already sent: dropped
                if progressed:
                    continue
                caught_up = all(sent.get(r, 0) >= w.head for r, w in feed.windows.items())
                if feed.ended is not None and caught_up:
                    yield close_event(feed.ended)
                    return
                await changed.wait()
        finally:
            self.release()
