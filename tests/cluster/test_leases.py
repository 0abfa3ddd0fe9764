from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
import redis_server

from hub.cluster.leases import Leases


@pytest.fixture
async def redis() -> AsyncIterator[Any]:
    r = aioredis.Redis.from_url(redis_server.shared().url)
    yield r
    await r.aclose()


def _leases(redis: Any, holder: str, prefix: str, ttl: float = 0.5) -> Leases:
    return Leases(redis, prefix=prefix, kind="camera", holder=holder, ttl=ttl)


async def test_one_holder_at_a_time_with_ever_larger_tokens(redis: Any) -> None:
    p = f"t{secrets.token_hex(4)}"
    a, b = _leases(redis, "a", p), _leases(redis, "b", p)
    first = await a.acquire("cam-1")
    assert first is not None and first.valid()
    assert await b.acquire("cam-1") is None
    assert await a.acquire("cam-1") is None  # not twice either
    assert (await a.holders(["cam-1", "cam-2"])) == {"cam-1": "a", "cam-2": None}
    await b.release(first.__class__("cam-1", first.token, f"b|{first.token}", 0))  # not b's
    assert await b.acquire("cam-1") is None
    await a.release(first)
    assert not first.valid()
    second = await b.acquire("cam-1")
    assert second is not None and second.token > first.token


async def test_a_lease_not_renewed_runs_out_and_cannot_be_renewed_after(redis: Any) -> None:
    p = f"t{secrets.token_hex(4)}"
    a, b = _leases(redis, "a", p, ttl=0.3), _leases(redis, "b", p, ttl=0.3)
    lease = await a.acquire("cam-1")
    assert lease is not None
    for _ in range(4):  # renewed: outlives its ttl
        await asyncio.sleep(0.15)
        assert await a.renew(lease) and lease.valid()
    await asyncio.sleep(0.35)
    assert not lease.valid()  # the holder's own clock says stop before Redis frees it
    taken = await b.acquire("cam-1")
    assert taken is not None and taken.token > lease.token
    assert not await a.renew(lease)


def test_a_holder_name_cannot_forge_another_value(redis: Any) -> None:
    with pytest.raises(ValueError):
        Leases(redis, prefix="p", kind="camera", holder="a|1")
