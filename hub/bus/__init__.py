"""The event bus: a protocol with an in-process backend and a Redis Streams one.

Payloads are JSON-able dicts, never live objects, so nothing depends on the bus being in-process.
"""

from hub.bus.base import Bus, Message, Subscription
from hub.bus.memory import MemoryBus

__all__ = ["Bus", "MemoryBus", "Message", "Subscription"]
