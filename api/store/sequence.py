"""Per-partition sequence heads this process has seen committed.

Why it lives on the ``Db`` handle (not in a module-level dict): a head cached
higher than the store's real head would make this process write past a gap,
and another process could later commit into the gap with a *lower* key — key
order would no longer be commit order. Tying the cache to one client/store
handle means a new store (a test, a restart) always starts cold and reads the
real head.
"""

from __future__ import annotations

import threading


class SequenceHeads:
    """Last committed sequence number per ``(table, partition)``; only moves forward."""

    def __init__(self) -> None:
        self._heads: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def get(self, table: str, partition: str) -> int | None:
        with self._lock:
            return self._heads.get((table, partition))

    def advance(self, table: str, partition: str, sequence: int) -> None:
        with self._lock:
            key = (table, partition)
            if sequence > self._heads.get(key, -1):
                self._heads[key] = sequence

    def reserve(self, table: str, partition: str, count: int, *, stored_head: int) -> int:
        """Reserve ``count`` numbers after the head (single-writer partitions); returns the first.

        ``stored_head`` is the head read from the store, used when this process
        has no head yet (or a lower one).
        """
        with self._lock:
            key = (table, partition)
            start = max(self._heads.get(key, 0), stored_head)
            self._heads[key] = start + count
            return start + 1

    def forget(self, table: str, partition: str) -> None:
        with self._lock:
            self._heads.pop((table, partition), None)
