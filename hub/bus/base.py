"""Bus protocol shared by every backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
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
    receipt: tuple[str, str] | None = field(default=None, compare=False)
    """What acknowledging the message takes (Redis: the stream and the entry id); None where
    there is nothing to acknowledge (the in-process bus, subscribers outside a group)."""


class Subscription(Protocol[P]):
    def __aiter__(self) -> AsyncIterator[Message[P]]: ...

    async def get(self) -> Message[P]: ...

    async def ack(self, msg: Message[P]) -> None:
        """The consumer's work on ``msg`` is done and committed. A group member must call it:
        on a backend that keeps messages (Redis), what a member took and never acknowledged goes
        to another member when it dies, so nothing it held is lost."""
        ...

    async def close(self) -> None: ...


class Bus(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, topic: Topic[P], payload: P) -> int:
        """Publish a payload of the topic's type; returns its sequence number (0 when the
        backend could not reach its server and queued the payload to send when it can)."""
        ...

    def subscribe(self, topic: Topic[P], *, group: str | None = None) -> Subscription[P]:
        """Receive the topic's messages.

        Subscribers in the same ``group`` share messages (each goes to one of them; messages
        of one partition key to the same one while the group does not change); without a group
        every subscriber gets every message. Messages published after the call are received,
        whenever the first ``get`` comes.
        """
        ...
