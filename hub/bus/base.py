"""Bus protocol shared by every backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    seq: int
    """Monotonic per bus (per stream in Redis): orders events and lets consumers resume."""
    data: dict[str, Any]


class Subscription(Protocol):
    def __aiter__(self) -> AsyncIterator[Message]: ...

    async def get(self) -> Message: ...

    async def close(self) -> None: ...


class Bus(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, topic: str, data: dict[str, Any]) -> int:
        """Publish a JSON-able dict; returns its sequence number."""
        ...

    def subscribe(self, topic: str, *, group: str | None = None) -> Subscription:
        """Receive messages whose topic equals ``topic`` or starts with ``topic + '.'``.

        Subscribers in the same ``group`` share messages (each goes to one of them); without a
        group every subscriber gets every message.
        """
        ...


def topic_matches(pattern: str, topic: str) -> bool:
    return topic == pattern or topic.startswith(pattern + ".") or pattern in ("", "*")
