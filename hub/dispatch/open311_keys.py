"""The Open311 API keys (``HUB_OPEN311_KEYS``: key -> client name) and a per-key rate limit.

A key is compared in constant time against every configured key; only the client's name ever
reaches a log, the store or an answer. The limit is a token bucket per client in this process
(``HUB_OPEN311_PER_MINUTE`` reports a minute, bursts up to the same number).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Mapping

from hub.ratelimit import RateLimiter, retry_after_header


class ApiKeys:
    def __init__(
        self,
        keys: Mapping[str, str],
        *,
        per_minute: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._keys = [(k.encode(), client) for k, client in keys.items()]
        self._limit = RateLimiter(per_minute, clock=clock)

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
        return self._limit.take(client)


def retry_after(seconds: float) -> str:
    return retry_after_header(seconds)
