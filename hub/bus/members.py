"""Who is alive, by heartbeats in a Redis sorted set: consumer-group members (the bus) and
video workers (camera shards) both split work by the live set this gives."""

from __future__ import annotations

import time
from typing import Any

FORGET_SECONDS = 3600.0
"""Entries not heard from this long are removed (the live set ignores them long before)."""


async def beat(redis: Any, key: str, member: str, ttl: float) -> list[str]:
    """Say ``member`` is alive now, and return the members heard from within ``ttl`` seconds
    (sorted: every process sees the same order), in one round trip."""
    now = time.time()
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zadd(key, {member: now})
        pipe.zremrangebyscore(key, "-inf", now - FORGET_SECONDS)
        pipe.zrangebyscore(key, now - ttl, "+inf")
        _, _, live = await pipe.execute()
    return sorted(m.decode() if isinstance(m, bytes) else m for m in live)
