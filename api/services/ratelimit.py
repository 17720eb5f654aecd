"""Message rate limits: an in-process token bucket per principal.

Why: an agent token is held by untrusted code; posting in a tight loop would
fill its thread (and every viewer's stream) and the store. Each agent token
gets a bucket of ``agent_message_burst`` messages refilled at
``agent_messages_per_minute``; past it the POST answers 429 with
``Retry-After``. The operator is trusted and unlimited unless
``operator_messages_per_minute`` is set. In-process: with N API processes a
token may send N times the rate, which still bounds it.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

#: Buckets kept at most; idle full ones are forgotten first (a full bucket holds no state).
MAX_TRACKED_PRINCIPALS = 10_000
SECONDS_PER_MINUTE = 60.0


@dataclass
class TokenBucket:
    capacity: int
    per_second: float
    clock: Callable[[], float] = time.monotonic
    tokens: float = field(init=False)
    updated: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = float(self.capacity)
        self.updated = self.clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.per_second)
        self.updated = now

    @property
    def full(self) -> bool:
        self._refill()
        return self.tokens >= self.capacity

    def take(self) -> float:
        """Take one token: 0.0 if granted, else the seconds until one is available."""
        self._refill()
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.per_second


class RateLimiter:
    """One bucket per key (``Principal.key``); thread-safe (sync routes run in threads)."""

    def __init__(
        self,
        *,
        capacity: int,
        per_minute: float,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_TRACKED_PRINCIPALS,
    ) -> None:
        self.capacity = capacity
        self.per_minute = per_minute
        self.clock = clock
        self.max_keys = max_keys
        self.buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def wait_needed(self, key: str) -> float:
        """0.0 when the key may send now (a token is taken), else the seconds to wait."""
        with self._lock:
            bucket = self.buckets.get(key)
            if bucket is None:
                if len(self.buckets) >= self.max_keys:
                    self._forget_full()
                bucket = self.buckets[key] = TokenBucket(
                    self.capacity, self.per_minute / SECONDS_PER_MINUTE, self.clock
                )
            return bucket.take()

    def _forget_full(self) -> None:
        for key in [k for k, b in self.buckets.items() if b.full]:
            del self.buckets[key]
        while len(self.buckets) >= self.max_keys:  # all busy: drop the oldest
            del self.buckets[next(iter(self.buckets))]

    def refusal(self, who: str, wait_s: float) -> tuple[str, int]:
        """The 429 sentence and its ``Retry-After`` (whole seconds, at least 1)."""
        retry = max(1, math.ceil(wait_s))
        return (
            f"This {who} sends messages faster than {self.per_minute:g} per minute "
            f"(bursts of {self.capacity}); retry in {retry} second{'s' if retry != 1 else ''}.",
            retry,
        )
