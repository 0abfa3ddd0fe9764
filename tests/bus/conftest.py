from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis_server

from hub.bus.base import Bus
from hub.bus.memory import MemoryBus
from hub.bus.redis_streams import RedisBus


@pytest.fixture
def redis_url() -> str:
    return redis_server.shared().url


@pytest.fixture(params=["memory", "redis"])
async def new_bus(request: pytest.FixtureRequest) -> AsyncIterator[Callable[[], Awaitable[Bus]]]:
    """Makes "a process's bus": the one in-process bus each time for ``memory``; for ``redis``
    a new bus on the session's private server (as another process would have), all under one
    key prefix of the test's own."""
    made: list[Bus] = []
    prefix = f"t{secrets.token_hex(4)}"
    memory = MemoryBus()

    async def new() -> Bus:
        if request.param == "memory":
            return memory
        bus = RedisBus(redis_server.shared().url, prefix=prefix, partitions=4, member_ttl=1.0)
        await bus.start()
        made.append(bus)
        return bus

    new.backend = request.param  # type: ignore[attr-defined]
    yield new
    for bus in made:
        await bus.close()
