"""A token bucket per key, in this process: N a minute, bursts up to N. Open311 keys, WHIP units
and call participants each get one, so that one client cannot make the hub do unbounded work."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from hub.errors import HubError

MAX_KEYS = 100_000
"""Buckets kept; beyond it all are forgotten (a new bucket starts full, so a flood of new keys
gains at most one burst each, and memory stays bounded)."""


class RateLimitedError(HubError):
    status = 429
    title = "Too many requests"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": retry_after_header(retry_after)}


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(per_minute)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str) -> float:
        """Spend one request of ``key``'s allowance: 0.0 when allowed, else the seconds until
        the next one is."""
        now = self._clock()
        b = self._buckets.get(key)
        if b is None:
            if len(self._buckets) >= MAX_KEYS:
                self._buckets.clear()
            b = self._buckets[key] = _Bucket(self._burst, now)
        b.tokens = min(self._burst, b.tokens + (now - b.at) * self._rate)
        b.at = now
        if b.tokens >= 1.0:
            b.tokens -= 1.0
            return 0.0
        return (1.0 - b.tokens) / self._rate

    def check(self, key: str, what: str) -> None:
        """Spend one, or raise RateLimitedError (429 with Retry-After)."""
        wait = self.take(key)
        if wait > 0:
            raise RateLimitedError(f"too many {what}; try again in {math.ceil(wait)} s", wait)
