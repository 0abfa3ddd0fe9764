import asyncio
from datetime import UTC, datetime

from hub.bus import MemoryBus
from hub.bus.events import TOPIC_DETECTIONS, DetectionEvent
from hub.bus.factory import open_bus
from hub.config import Settings


async def test_fan_out_and_prefix_topics() -> None:
    bus = MemoryBus()
    a = bus.subscribe("video")
    b = bus.subscribe(TOPIC_DETECTIONS)
    other = bus.subscribe("devices")
    s1 = await bus.publish(TOPIC_DETECTIONS, {"n": 1})
    s2 = await bus.publish("video.health", {"n": 2})
    assert s2 > s1
    assert [(await a.get()).data["n"], (await a.get()).data["n"]] == [1, 2]
    assert (await b.get()).seq == s1
    assert b.queue.empty() and other.queue.empty()


async def test_group_members_share_messages() -> None:
    bus = MemoryBus()
    g1 = bus.subscribe("t", group="store")
    g2 = bus.subscribe("t", group="store")
    for i in range(10):
        await bus.publish("t", {"i": i})
    assert g1.queue.qsize() == 5 and g2.queue.qsize() == 5


async def test_payload_is_plain_json() -> None:
    """Consumers must not depend on objects passing through in-process."""
    bus = MemoryBus()
    sub = bus.subscribe(TOPIC_DETECTIONS)
    ev = DetectionEvent(
        camera_id="cam-1",
        type="intrusion",
        track_id=3,
        start=datetime(2026, 1, 1, tzinfo=UTC),
        media_time=1.5,
        confidence=0.9,
    )
    await bus.publish(TOPIC_DETECTIONS, ev.model_dump(mode="json"))
    msg = await asyncio.wait_for(sub.get(), 1)
    assert isinstance(msg.data["id"], str)
    assert DetectionEvent.model_validate(msg.data) == ev


async def test_full_subscriber_drops_and_counts_without_blocking() -> None:
    bus = MemoryBus(queue_size=3)
    slow = bus.subscribe("t")
    fast = bus.subscribe("t")
    for i in range(5):
        await bus.publish("t", {"i": i})
        await fast.get()
    assert slow.queue.qsize() == 3 and slow.dropped == 2
    await slow.close()
    await bus.publish("t", {"i": 9})
    assert slow.queue.qsize() == 3


def test_the_settings_choose_the_bus() -> None:
    assert isinstance(open_bus(Settings(bus="memory")), MemoryBus)
