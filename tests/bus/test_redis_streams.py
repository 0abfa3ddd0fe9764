"""What only the Redis Streams bus does: keep messages for groups, hand a dead member's messages
to the others, set aside what cannot be handled, ride out a Redis that goes away."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis_server
from bus_samples import event as _event
from bus_samples import health as _health

from hub.bus.base import Subscription
from hub.bus.contracts import CAMERA_HEALTH, DETECTIONS, CameraHealth, Topic
from hub.bus.factory import open_bus
from hub.bus.redis_streams import MAX_DELIVERIES, RedisBus
from hub.config import Settings


@pytest.fixture
async def buses() -> AsyncIterator[Any]:
    made: list[RedisBus] = []
    prefix = f"t{secrets.token_hex(4)}"

    async def new(**kw: Any) -> RedisBus:
        kw = {"prefix": prefix, "partitions": 4, "member_ttl": 1.0, **kw}
        bus = RedisBus(kw.pop("url", redis_server.shared().url), **kw)
        await bus.start()
        made.append(bus)
        return bus

    yield new
    for bus in made:
        await bus.close()


def _die(bus: RedisBus) -> None:
    """As kill -9 would leave it: no more heartbeats, no goodbye, nothing acknowledged."""
    assert bus._heartbeat is not None
    bus._heartbeat.cancel()
    for sub in list(bus._groups):
        sub.closed = True
        if sub._reading is not None:
            sub._reading.cancel()
    bus._groups.clear()


async def _get(sub: Subscription[Any], wait: float = 10.0) -> Any:
    msg = await asyncio.wait_for(sub.get(), wait)
    await sub.ack(msg)
    return msg


async def test_what_a_dead_member_took_goes_to_another(buses: Any) -> None:
    a_bus, b_bus = await buses(), await buses()
    a = a_bus.subscribe(DETECTIONS, group="store")
    b = b_bus.subscribe(DETECTIONS, group="store")
    sent = [_event(f"cam-{i}", track=i) for i in range(40)]
    for ev in sent:
        await a_bus.publish(DETECTIONS, ev)
    # a takes its first message and dies with it (and the rest of its share) unacknowledged.
    taken = await asyncio.wait_for(a.get(), 10)
    _die(a_bus)
    got = []
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    while len(got) < 40:
        got.append((await _get(b, 15)).data.id)
    assert sorted(got) == sorted(ev.id for ev in sent)
    assert taken.data.id in got
    assert loop.time() - t0 < 8  # member_ttl 1 s, then the next look at pending entries
    assert await b_bus.redis.xpending(b_bus.stream(DETECTIONS, 0), "store") is not None


async def test_a_message_nobody_acknowledges_is_set_aside(buses: Any) -> None:
    bus = await buses(stuck_seconds=0.3)
    sub = bus.subscribe(CAMERA_HEALTH, group="g")
    await bus.publish(CAMERA_HEALTH, _health(1))
    got: list[int] = []

    async def consume() -> None:  # never acknowledges 1: it comes again
        while True:
            msg = await sub.get()
            got.append(msg.data.frames_in)
            if msg.data.frames_in != 1:
                await sub.ack(msg)

    task = asyncio.create_task(consume())
    dead_key = f"{bus.prefix}:dead:{CAMERA_HEALTH.name}"
    try:
        async with asyncio.timeout(20):
            while not await bus.redis.xlen(dead_key):  # noqa: ASYNC110 (state in Redis)
                await asyncio.sleep(0.1)
        await bus.publish(CAMERA_HEALTH, _health(2))
        async with asyncio.timeout(10):
            while 2 not in got:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # a sixth delivery would come now
    finally:
        task.cancel()
    assert got == [1] * MAX_DELIVERIES + [2]
    dead = await bus.redis.xrange(dead_key)
    assert len(dead) == 1 and dead[0][1][b"reason"] == b"deliveries"
    assert CameraHealth.model_validate_json(dead[0][1][b"d"]).frames_in == 1


async def test_an_undecodable_entry_is_skipped_and_set_aside(buses: Any) -> None:
    bus = await buses()
    grp = bus.subscribe(CAMERA_HEALTH, group="g")
    fan = bus.subscribe(CAMERA_HEALTH)
    await bus.publish(CAMERA_HEALTH, _health(0))
    for sub in (grp, fan):
        assert (await _get(sub)).data.frames_in == 0
    stream = bus.stream(CAMERA_HEALTH, 0)
    await bus.redis.xadd(stream, {"d": b'{"camera_id": 5'})
    await bus.redis.xadd(stream, {"x": b"no payload"})
    await bus.publish(CAMERA_HEALTH, _health(1))
    for sub in (grp, fan):
        assert (await _get(sub)).data.frames_in == 1
    dead = await bus.redis.xrange(f"{bus.prefix}:dead:{CAMERA_HEALTH.name}")
    assert [d[1][b"reason"] for d in dead] == [b"invalid", b"invalid"]
    assert await bus.redis.xpending(stream, "g") == {
        "pending": 0,
        "min": None,
        "max": None,
        "consumers": [],
    }


async def test_a_group_gets_what_was_published_while_no_member_ran(buses: Any) -> None:
    first = await buses()
    sub = first.subscribe(DETECTIONS, group="store")
    await first.publish(DETECTIONS, _event("cam-1", 1))
    assert (await _get(sub)).data.track_id == 1
    await sub.close()
    await first.close()
    producer = await buses()
    for i in range(2, 12):
        await producer.publish(DETECTIONS, _event(f"cam-{i}", i))
    again = (await buses()).subscribe(DETECTIONS, group="store")
    got = sorted([(await _get(again)).data.track_id for _ in range(10)])
    assert got == list(range(2, 12))


async def test_the_bus_rides_out_a_redis_that_goes_away() -> None:
    server = redis_server.RedisServer()
    try:
        bus = RedisBus(server.url, prefix="t", partitions=2, member_ttl=1.0)
        await bus.start()
        grp = bus.subscribe(DETECTIONS, group="store")
        fan = bus.subscribe(DETECTIONS)
        await bus.publish(DETECTIONS, _event("cam-0", 0))
        for sub in (grp, fan):
            assert (await _get(sub)).data.track_id == 0
        server.kill()
        # Published while Redis is gone: held, not lost, and the publisher is not stalled.
        seqs = [
            await asyncio.wait_for(bus.publish(DETECTIONS, _event(f"cam-{i}", i)), 5)
            for i in range(1, 4)
        ]
        assert seqs == [0, 0, 0]
        await asyncio.sleep(1.0)  # the readers fail and back off meanwhile
        server.start()  # empty: it kept nothing
        for sub in (grp, fan):
            got = sorted([(await _get(sub, 20)).data.track_id for _ in range(3)])
            assert got == [1, 2, 3]
        await bus.publish(DETECTIONS, _event("cam-9", 9))
        for sub in (grp, fan):
            assert (await _get(sub)).data.track_id == 9
        await bus.close()
    finally:
        server.stop()


async def test_every_process_must_agree_on_the_partitions(buses: Any) -> None:
    await buses(partitions=4)
    with pytest.raises(ValueError, match="HUB_BUS_PARTITIONS"):
        await buses(partitions=8)


async def test_streams_are_bounded(buses: Any) -> None:
    bus = await buses()
    topic = Topic("t.bounded", CameraHealth, retain=100)
    for i in range(2000):
        await bus.publish(topic, _health(i))
    assert 100 <= await bus.redis.xlen(bus.stream(topic, 0)) < 400


def test_the_settings_choose_redis() -> None:
    bus = open_bus(Settings(bus="redis", redis_url="redis://127.0.0.1:1/0", bus_partitions=3))
    assert isinstance(bus, RedisBus) and bus.partitions == 3
    assert "redis_url" not in repr(Settings())


async def test_a_publish_redis_refuses_raises_and_the_next_goes_through(buses: Any) -> None:
    from redis.exceptions import ResponseError

    bus = await buses()
    sub = bus.subscribe(CAMERA_HEALTH)
    await bus.publish(CAMERA_HEALTH, _health(0))
    assert (await _get(sub)).data.frames_in == 0
    await bus.redis.delete(bus.stream(CAMERA_HEALTH, 0))
    await bus.redis.set(bus.stream(CAMERA_HEALTH, 0), "not a stream")
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await asyncio.wait_for(bus.publish(CAMERA_HEALTH, _health(1)), 5)
    await bus.redis.delete(bus.stream(CAMERA_HEALTH, 0))
    assert await asyncio.wait_for(bus.publish(CAMERA_HEALTH, _health(2)), 5) > 0
    assert (await _get(sub)).data.frames_in == 2
