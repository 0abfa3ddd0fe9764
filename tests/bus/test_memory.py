from datetime import UTC, datetime

from hub.bus import MemoryBus
from hub.bus.contracts import (
    CAMERA_HEALTH,
    DEVICE_TELEMETRY,
    Box,
    CameraHealth,
    DetectionEvent,
    DeviceTelemetry,
    DeviceTelemetryBatch,
)
from hub.bus.factory import open_bus
from hub.config import Settings


def _health(n: int) -> CameraHealth:
    return CameraHealth(camera_id=f"cam-{n}", state="online", frames_in=n)


def _event() -> DetectionEvent:
    return DetectionEvent(
        camera_id="cam-1",
        type="intrusion",
        track_id=3,
        start=datetime(2026, 1, 1, tzinfo=UTC),
        media_time=1.5,
        confidence=0.9,
        boxes=[Box(x=0.1, y=0.2, w=0.3, h=0.4)],
    )


async def test_group_members_share_messages() -> None:
    bus = MemoryBus()
    g1 = bus.subscribe(CAMERA_HEALTH, group="store")
    g2 = bus.subscribe(CAMERA_HEALTH, group="store")
    for i in range(10):
        await bus.publish(CAMERA_HEALTH, _health(i))
    assert g1.queue.qsize() == 5 and g2.queue.qsize() == 5


async def test_telemetry_batches_keep_their_values() -> None:
    bus = MemoryBus()
    sub = bus.subscribe(DEVICE_TELEMETRY)
    batch = DeviceTelemetryBatch(
        readings=[
            DeviceTelemetry(device_id="d1", ts=1.5, seq=7, values={"t": 21.5, "on": True, "s": "x"})
        ]
    )
    await bus.publish(DEVICE_TELEMETRY, batch)
    got = (await sub.get()).data.readings[0]
    assert got.values == {"t": 21.5, "on": True, "s": "x"} and got.seq == 7


async def test_full_subscriber_drops_and_counts_without_blocking() -> None:
    bus = MemoryBus(queue_size=3)
    slow = bus.subscribe(CAMERA_HEALTH)
    fast = bus.subscribe(CAMERA_HEALTH)
    for i in range(5):
        await bus.publish(CAMERA_HEALTH, _health(i))
        await fast.get()
    assert slow.queue.qsize() == 3 and slow.dropped == 2
    await slow.close()
    await bus.publish(CAMERA_HEALTH, _health(9))
    assert slow.queue.qsize() == 3


def test_the_settings_choose_the_bus() -> None:
    assert isinstance(open_bus(Settings(bus="memory")), MemoryBus)
