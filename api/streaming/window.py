"""A feed's window of encoded events and its gap logic (pure: no I/O, no event loop).

Why its own unit: "exactly once, in order" rests on this bookkeeping, and both
the run feeds and the feature feeds (one window per run of the feature) use it.

A window holds the *contiguous* entries ``base+1 .. head`` of one run's thread
(key order is commit order, ``api.store.messages``). Entries arrive from two
sources, the in-process bus and the store poll, in any order and possibly
twice: one at ``head + 1`` extends the window, one further ahead (it overtook
another process's commit) is parked until the gap is read from the store, one
at or below ``head`` was already taken and is dropped. A viewer that has sent
up to ``sent`` reads ``entries_after(sent)`` when ``covers(sent)``, else from
the store (it is behind the window).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

#: Encoded events a window keeps in memory for viewers that join or resume.
FEED_WINDOW_MESSAGES = 2_000
#: Extra entries allowed before the window is trimmed (trimming is a list copy).
FEED_WINDOW_SLACK = 500

#: A message's sequence number and its encoded SSE bytes.
Entry = tuple[int, bytes]


@dataclass(frozen=True, slots=True)
class Absorbed:
    """What one ``absorb`` did: the head moved, and/or a gap is waiting to be read."""

    grew: bool
    gap: bool


class FeedWindow:
    def __init__(
        self,
        after: int = 0,
        *,
        capacity: int = FEED_WINDOW_MESSAGES,
        slack: int = FEED_WINDOW_SLACK,
    ) -> None:
        #: Entries ``base+1 .. head``, contiguous.
        self.entries: list[Entry] = []
        self.base = after
        self.head = after
        #: Entries seen ahead of ``head + 1`` (a gap to read first).
        self.ahead: dict[int, Entry] = {}
        self._capacity = capacity
        self._slack = slack

    def absorb(self, entries: Iterable[Entry], *, settled: bool = True) -> Absorbed:
        """Merge entries: extend the window with contiguous ones, park the rest.

        ``settled=False`` (the feed's first read is still under way): a parked entry
        is not reported as a gap, since that read fills it anyway.
        """
        grew = gap = False
        for sequence, event in entries:
            if sequence <= self.head:
                continue
            if sequence > self.head + 1:
                self.ahead[sequence] = (sequence, event)
                gap = gap or settled
                continue
            self.entries.append((sequence, event))
            self.head = sequence
            grew = True
        grew = self._drain_ahead() or grew
        if grew:
            self._trim()
        return Absorbed(grew=grew, gap=gap and bool(self.ahead))

    def restart_at(self, head: int) -> None:
        """Move an empty window to ``head`` (the real end of a thread, learned late)."""
        self.entries.clear()
        self.base = self.head = head
        self._drain_ahead()

    def covers(self, sent: int) -> bool:
        """True when every entry after ``sent`` is in memory (no store read needed)."""
        return sent >= self.base

    def entries_after(self, sent: int) -> list[Entry]:
        """The window's entries after ``sent`` (``covers(sent)`` must hold)."""
        return self.entries[sent - self.base :]

    def _drain_ahead(self) -> bool:
        grew = False
        while self.head + 1 in self.ahead:
            self.entries.append(self.ahead.pop(self.head + 1))
            self.head += 1
            grew = True
        for stale in [s for s in self.ahead if s <= self.head]:
            del self.ahead[stale]
        return grew

    def _trim(self) -> None:
        excess = len(self.entries) - self._capacity
        if excess > self._slack:
            del self.entries[:excess]
            self.base += excess
