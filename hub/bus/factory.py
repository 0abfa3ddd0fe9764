"""The bus the settings name (``HUB_BUS``): the one place a backend is chosen."""

from __future__ import annotations

from hub.bus.base import Bus
from hub.bus.memory import MemoryBus
from hub.config import Settings


def open_bus(settings: Settings) -> Bus:
    """A new, not yet started bus. ``memory``: in-process, for one hub process (the embedded
    default); ``redis``: Redis Streams, shared by the processes of a cluster."""
    if settings.bus == "memory":
        return MemoryBus()
    if settings.bus == "redis":
        from hub.bus.redis_streams import RedisBus

        return RedisBus(
            settings.redis_url,
            prefix=settings.bus_prefix,
            partitions=settings.bus_partitions,
            member_ttl=settings.bus_member_ttl_seconds,
        )
    raise ValueError(f"unknown bus backend {settings.bus!r}")
