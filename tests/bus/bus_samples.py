"""Payloads the bus tests publish."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.bus.contracts import Box, CameraHealth, DetectionEvent


def health(n: int, camera: str = "cam") -> CameraHealth:
    return CameraHealth(camera_id=f"{camera}-{n}", state="online", frames_in=n)


def event(camera: str = "cam-1", track: int = 3) -> DetectionEvent:
    return DetectionEvent(
        camera_id=camera,
        type="intrusion",
        track_id=track,
        start=datetime(2026, 1, 1, tzinfo=UTC),
        media_time=1.5,
        confidence=0.9,
        boxes=[Box(x=0.1, y=0.2, w=0.3, h=0.4)],
    )
