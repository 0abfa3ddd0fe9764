"""Leases in Redis with fencing tokens: one holder per name at a time, across processes.

A lease is the key ``{prefix}:lease:{kind}:{name}`` holding ``{holder}|{token}`` with an expiry.
The token comes from ``INCR {prefix}:fence:{kind}:{name}``: every grant of a name gets a larger
one, so whatever a holder produces can be stamped with it and a consumer can tell an old
holder's late output from the current one's. Acquire, renew and release are Lua scripts:
each checks and acts in one step on the server.

A holder must stop using a lease at ``valid_until`` (its own monotonic clock: the ttl minus a
margin for clock rate and the round trip, counted from before the request that granted or
renewed it) unless a renewal has moved it on. Redis may hand the name to another holder only
after the full ttl, so the two never overlap while clocks run at about the same rate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

ACQUIRE = """
if redis.call('exists', KEYS[1]) == 1 then return false end
local token = redis.call('incr', KEYS[2])
redis.call('set', KEYS[1], ARGV[1] .. '|' .. token, 'PX', ARGV[2])
return token
"""
RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""

MARGIN = 0.2
"""Part of the ttl a holder gives up, for clock-rate drift and the request's own time."""


@dataclass
class Lease:
    name: str
    token: int
    value: str
    valid_until: float
    """time.monotonic() after which the holder must not act on it (unless renewed)."""

    def valid(self, now: float | None = None) -> bool:
        return (time.monotonic() if now is None else now) < self.valid_until


class Leases:
    """Leases of one kind (``camera``...) taken by one holder (a process)."""

    def __init__(
        self, redis: Any, *, prefix: str, kind: str, holder: str, ttl: float = 8.0
    ) -> None:
        if "|" in holder:
            raise ValueError("a holder name cannot contain '|'")
        self.redis = redis
        self.prefix = prefix
        self.kind = kind
        self.holder = holder
        self.ttl = ttl
        self._acquire = redis.register_script(ACQUIRE)
        self._renew = redis.register_script(RENEW)
        self._release = redis.register_script(RELEASE)
        self._ms = int(ttl * 1000)

    def key(self, name: str) -> str:
        return f"{self.prefix}:lease:{self.kind}:{name}"

    def _until(self, t0: float) -> float:
        return t0 + self.ttl * (1 - MARGIN)

    async def acquire(self, name: str) -> Lease | None:
        """The lease on ``name`` if nobody holds it, else None."""
        t0 = time.monotonic()
        token = await self._acquire(
            keys=[self.key(name), f"{self.prefix}:fence:{self.kind}:{name}"],
            args=[self.holder, int(self.ttl * 1000)],
        )
        if token is None:
            return None
        return Lease(name, int(token), f"{self.holder}|{int(token)}", self._until(t0))

    async def renew(self, lease: Lease) -> bool:
        """Extend a lease still ours; False when it is not (expired, taken by another)."""
        t0 = time.monotonic()
        ok = await self._renew(
            keys=[self.key(lease.name)], args=[lease.value, int(self.ttl * 1000)]
        )
        if ok:
            lease.valid_until = self._until(t0)
        return bool(ok)

    async def renew_all(self, leases: list[Lease]) -> list[bool]:
        """:meth:`renew` for many, in one round trip (a video worker holds hundreds)."""
        if not leases:
            return []
        t0 = time.monotonic()
        async with self.redis.pipeline(transaction=False) as pipe:
            for lease in leases:
                await self._renew(
                    keys=[self.key(lease.name)], args=[lease.value, self._ms], client=pipe
                )
            results = await pipe.execute()
        for lease, ok in zip(leases, results, strict=True):
            if ok:
                lease.valid_until = self._until(t0)
        return [bool(ok) for ok in results]

    async def release(self, lease: Lease) -> None:
        lease.valid_until = 0.0
        await self._release(keys=[self.key(lease.name)], args=[lease.value])

    async def holders(self, names: list[str]) -> dict[str, str | None]:
        """Who holds each name now (holder names; None: free)."""
        if not names:
            return {}
        values = await self.redis.mget([self.key(n) for n in names])
        out: dict[str, str | None] = {}
        for n, v in zip(names, values, strict=True):
            out[n] = (
                None if v is None else (v.decode() if isinstance(v, bytes) else v).rsplit("|", 1)[0]
            )
        return out
