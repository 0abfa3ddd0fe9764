"""The Open311 API keys (``HUB_OPEN311_KEYS``: key -> client name) and a per-key rate limit.

A key is compared in constant time against every configured key; only the client's name ever
reaches a log, the store or an answer. The limit is a token bucket per client in this process
(``HUB_OPEN311_PER_MINUTE`` reports a minute, bursts up to the same number).
"""

from __future__ import annotations

import hmac
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class ApiKeys:
    def __init__(
        self,
        keys: Mapping[str, str],
        *,
        per_minute: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._keys = [(k.encode(), client) for k, client in keys.items()]
        self._rate = per_minute / 60.0
        self._burst = float(per_minute)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def client(self, key: str | None) -> str | None:
        """The client holding ``key``, or None."""
        if not key or len(key) > 256:
            return None
        given = key.encode()
        found = None
        for k, client in self._keys:  # no early exit: every key costs the same
            if hmac.compare_digest(k, given):
                found = client
        return found

    def take(self, client: str) -> float:
        """Spend one request of ``client``'s allowance: 0.0 when allowed, else the seconds
        until the next one is."""
        now = self._clock()
        b = self._buckets.get(client)
        if b is None:
            b = self._buckets[client] = _Bucket(self._burst, now)
        b.tokens = min(self._burst, b.tokens + (now - b.at) * self._rate)
        b.at = now
        if b.tokens >= 1.0:
            b.tokens -= 1.0
            return 0.0
        return (1.0 - b.tokens) / self._rate


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
