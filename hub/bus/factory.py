"""The bus the settings name (``HUB_BUS``): the one place a backend is chosen."""

from __future__ import annotations

from hub.bus.base import Bus
from hub.bus.memory import MemoryBus
from hub.config import Settings


def open_bus(settings: Settings) -> Bus:
    """A new, not yet started bus. ``memory``: in-process, for one hub process (the embedded
    default); a Redis Streams backend for several processes comes with issue 11."""
    if settings.bus == "memory":
        return MemoryBus()
    raise ValueError(f"unknown bus backend {settings.bus!r}")
