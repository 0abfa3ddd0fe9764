"""What every bus backend promises (hub/bus/base.py), run against the in-process bus and Redis
Streams alike. Tests of what only a bus that keeps messages can do are in test_redis_streams.py.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from bus_samples import event as _event
from bus_samples import health as _health

from hub.bus.base import Bus, Message, Subscription
from hub.bus.contracts import (
    CAMERA_HEALTH,
    DETECTIONS,
    DEVICE_TELEMETRY,
    CameraHealth,
    DeviceTelemetry,
    DeviceTelemetryBatch,
    Topic,
)

NewBus = Callable[[], Awaitable[Bus]]


async def _drain(sub: Subscription[Any], quiet: float = 1.5) -> list[Message[Any]]:
    """Everything the subscription gets until it has been quiet for ``quiet`` seconds."""
    out: list[Message[Any]] = []
    while True:
        try:
            msg = await asyncio.wait_for(sub.get(), quiet)
        except TimeoutError:
            return out
        out.append(msg)
        await sub.ack(msg)


async def _gather(
    subs: list[Subscription[Any]],
    n: int,
    size: Callable[[Message[Any]], int] = lambda m: 1,
    wait: float = 15.0,
) -> list[list[Message[Any]]]:
    """What each subscription gets, consuming from all of them at once until they got ``n``
    (of ``size``) together, then for a moment more (to see that no more come)."""
    got: list[list[Message[Any]]] = [[] for _ in subs]
    total = 0
    done = asyncio.Event()

    async def consume(i: int, sub: Subscription[Any]) -> None:
        nonlocal total
        while True:
            msg = await sub.get()
            await sub.ack(msg)
            got[i].append(msg)
            total += size(msg)
            if total >= n:
                done.set()

    tasks = [asyncio.create_task(consume(i, s)) for i, s in enumerate(subs)]
    try:
        await asyncio.wait_for(done.wait(), wait)
        await asyncio.sleep(0.5)
    finally:
        for t in tasks:
            t.cancel()
    return got


async def _take(sub: Subscription[Any], n: int, wait: float = 10.0) -> list[Message[Any]]:
    out = []
    for _ in range(n):
        msg = await asyncio.wait_for(sub.get(), wait)
        await sub.ack(msg)
        out.append(msg)
    return out


async def test_every_subscriber_gets_every_message_in_order(new_bus: NewBus) -> None:
    a_bus, b_bus = await new_bus(), await new_bus()
    a = a_bus.subscribe(CAMERA_HEALTH)
    b = b_bus.subscribe(CAMERA_HEALTH)
    other = a_bus.subscribe(DETECTIONS)
    seqs = [await a_bus.publish(CAMERA_HEALTH, _health(i)) for i in range(20)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 20 and seqs[0] > 0
    for sub in (a, b):
        got = await _take(sub, 20)
        assert [m.data.frames_in for m in got] == list(range(20))
        assert [m.seq for m in got] == seqs
        assert all(m.topic == CAMERA_HEALTH.name for m in got)
    assert await _drain(other, 0.3) == []


async def test_a_subscriber_gets_what_is_published_right_after_it_subscribed(
    new_bus: NewBus,
) -> None:
    bus = await new_bus()
    await bus.publish(CAMERA_HEALTH, _health(0))  # before: not for it
    sub = bus.subscribe(CAMERA_HEALTH)
    grp = bus.subscribe(CAMERA_HEALTH, group="g")
    await bus.publish(CAMERA_HEALTH, _health(1))
    assert [m.data.frames_in for m in await _take(sub, 1)] == [1]
    assert [m.data.frames_in for m in await _take(grp, 1)] == [1]
    assert await _drain(sub, 0.3) == []


async def test_the_payload_goes_through_its_wire_form(new_bus: NewBus) -> None:
    bus = await new_bus()
    sub = bus.subscribe(DETECTIONS)
    ev = _event()
    await bus.publish(DETECTIONS, ev)
    (msg,) = await _take(sub, 1)
    assert msg.data == ev and msg.data is not ev


async def test_a_topic_refuses_another_payload_type(new_bus: NewBus) -> None:
    bus = await new_bus()
    with pytest.raises(TypeError):
        await bus.publish(DETECTIONS, _health(1))  # type: ignore[arg-type]


async def test_group_members_share_the_messages_each_once(new_bus: NewBus) -> None:
    buses = [await new_bus() for _ in range(3)]
    members = [b.subscribe(DETECTIONS, group="store") for b in buses]
    watcher = buses[0].subscribe(DETECTIONS)  # outside the group: sees everything
    sent = [_event(f"cam-{i % 7}", track=i) for i in range(60)]
    for ev in sent:
        await buses[1].publish(DETECTIONS, ev)
    got = await _gather(members, 60)
    ids = [m.data.id for g in got for m in g]
    assert sorted(ids) == sorted(ev.id for ev in sent)  # every one, once
    assert len(await _take(watcher, 60)) == 60
    # Each camera's events went to one member only, in the order they were published.
    owner: dict[str, int] = {}
    for i, g in enumerate(got):
        tracks: dict[str, list[int]] = {}
        for m in g:
            assert owner.setdefault(m.data.camera_id, i) == i
            tracks.setdefault(m.data.camera_id, []).append(m.data.track_id)
        assert all(t == sorted(t) for t in tracks.values())
    assert len(set(owner.values())) >= 2  # and the cameras were spread over the members


async def test_a_telemetry_batch_is_split_by_device(new_bus: NewBus) -> None:
    a_bus, b_bus = await new_bus(), await new_bus()
    a = a_bus.subscribe(DEVICE_TELEMETRY, group="rules")
    b = b_bus.subscribe(DEVICE_TELEMETRY, group="rules")
    for batch in range(5):
        await a_bus.publish(
            DEVICE_TELEMETRY,
            DeviceTelemetryBatch(
                readings=[
                    DeviceTelemetry(device_id=f"d{d}", ts=batch, seq=batch, values={"t": d})
                    for d in range(16)
                ]
            ),
        )
    got_a, got_b = await _gather([a, b], 80, lambda m: len(m.data.readings))
    devices_a = {r.device_id for m in got_a for r in m.data.readings}
    devices_b = {r.device_id for m in got_b for r in m.data.readings}
    assert devices_a.isdisjoint(devices_b) and devices_a and devices_b
    readings = Counter((r.device_id, r.seq) for m in got_a + got_b for r in m.data.readings)
    assert readings == Counter({(f"d{d}", s): 1 for d in range(16) for s in range(5)})


async def test_two_groups_each_get_everything(new_bus: NewBus) -> None:
    bus = await new_bus()
    topic = Topic("t.health", CameraHealth, key=lambda h: h.camera_id)
    store = bus.subscribe(topic, group="store")
    cases = bus.subscribe(topic, group="cases")
    for i in range(10):
        await bus.publish(topic, _health(i))
    assert len(await _take(store, 10)) == 10
    assert len(await _take(cases, 10)) == 10


async def test_a_closed_subscription_gets_nothing_more(new_bus: NewBus) -> None:
    bus = await new_bus()
    keep = bus.subscribe(CAMERA_HEALTH)
    gone = bus.subscribe(CAMERA_HEALTH, group="g")
    other = bus.subscribe(CAMERA_HEALTH, group="g")
    await _drain(gone, 0.1)  # let it join
    await gone.close()
    for i in range(5):
        await bus.publish(CAMERA_HEALTH, _health(i))
    assert len(await _take(keep, 5)) == 5
    assert len(await _drain(other)) == 5
