"""What the rest of the hub sees of the video part: the service, its live feeds and health.

The web layer depends on these protocols only, so it can be tested without cameras and the video
service can later run in another process behind the same surface.
"""

from __future__ import annotations

from typing import Protocol

from hub.bus.contracts import CameraHealth


class LiveEnded(Exception):
    """The live feed stopped (camera removed or hub shutting down)."""


class LiveSubscription(Protocol):
    async def init(self) -> tuple[str, bytes]:
        """Wait until the stream has an init segment; return (MSE mime type, ftyp+moov bytes)."""
        ...

    async def next(self) -> bytes:
        """Next media segment (one or more complete moof+mdat pairs).

        The first segment after ``init`` starts with a keyframe. A subscriber that falls behind
        skips ahead to the next keyframe rather than buffering without bound. Raises LiveEnded.
        """
        ...

    def close(self) -> None: ...


class VideoService(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def health(self) -> list[CameraHealth]:
        """Current health of every configured camera, in site-file order."""
        ...

    def subscribe_live(self, camera_id: str, stream: str = "main") -> LiveSubscription:
        """Live H.264 of one camera as fragmented MP4, passed through without re-encoding.

        ``stream``: ``main`` or ``sub``; a camera without a sub stream answers ``sub`` with main.

        Raises hub.errors.NotFoundError for an unknown camera.
        """
        ...
