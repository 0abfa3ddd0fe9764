"""Bus protocol shared by every backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from pydantic import BaseModel

from hub.bus.contracts import Topic

P = TypeVar("P", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Message(Generic[P]):
    topic: str
    seq: int
    """Monotonic per bus (per stream in Redis): orders events and lets consumers resume."""
    data: P


class Subscription(Protocol[P]):
    def __aiter__(self) -> AsyncIterator[Message[P]]: ...

    async def get(self) -> Message[P]: ...

    async def close(self) -> None: ...


class Bus(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, topic: Topic[P], payload: P) -> int:
        """Publish a payload of the topic's type; returns its sequence number."""
        ...

    def subscribe(self, topic: Topic[P], *, group: str | None = None) -> Subscription[P]:
        """Receive the topic's messages.

        Subscribers in the same ``group`` share messages (each goes to one of them); without a
        group every subscriber gets every message.
        """
        ...
