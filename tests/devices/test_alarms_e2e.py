"""End to end: simulator anomaly samples published over MQTT to a private Mosquitto, through the
real ingest and rule engine, raise their ground-truth alarms on the bus (recall 1.0)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
from broker_fixtures import RunningBroker
from ingest_helpers import Publisher, endpoint

from hub.bus.contracts import ALARMS
from hub.bus.memory import MemoryBus
from hub.config import Settings, load_site
from hub.devices.service import DeviceService
from hub.store.db import open_store
from simulators.sensors import DeviceStream, scripted_day

REPO = Path(__file__).resolve().parents[2]
# Two days ago, on a whole hour: the ingest accepts times within a window around its clock
# (validate.MAX_TS_AGE), and the scripted day ends before now.
START = float(int(time.time()) // 3600 * 3600 - 2 * 86_400)
BATCH = 500


async def test_scripted_anomalies_over_mqtt_raise_alarms(
    mqtt_broker: RunningBroker, tmp_path: Path
) -> None:
    site = load_site(REPO / "sites" / "demo-district.yaml")
    # Missing-data ("silent") needs wall-clock silence; test_alarm_rules covers it with a clock.
    anomalies = [a for a in scripted_day(site, START, seed=11) if a.kind != "silent"]
    truth = {(a.device_id, r, s) for a in anomalies for r, s in a.expected}
    assert len(truth) >= 5

    store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    bus = MemoryBus(queue_size=1_000_000)
    alarms = bus.subscribe(ALARMS)
    svc = DeviceService(
        Settings(data_dir=tmp_path), site, store, bus, endpoint=endpoint(mqtt_broker)
    )
    await svc.start()
    pubs: list[Publisher] = []
    try:
        assert svc.link is not None
        assert await asyncio.to_thread(svc.link.connected.wait, 10)
        await asyncio.sleep(0.2)
        for a in anomalies:
            creds = await mqtt_broker.provision(a.device_id)
            pub = Publisher(mqtt_broker, a.device_id, creds.password)
            pubs.append(pub)
            dev = site.device_by_id[a.device_id]
            stream = DeviceStream(
                dev, site.profile_by_id[dev.profile], site, start=a.start - 3600, anomalies=[a]
            )
            samples = [
                {"ts": ts, "seq": i, "values": v}
                for i, (ts, v) in enumerate(stream.until(a.end + 600))
            ]
            for i in range(0, len(samples), BATCH):
                pub.publish(None, raw=orjson.dumps(samples[i : i + BATCH]))
        for pub in pubs:
            assert await asyncio.to_thread(pub.wait_acked, 20)

        seen: set[tuple[str, str, str]] = set()
        async with asyncio.timeout(20):
            while not truth <= seen:
                d = (await alarms.get()).data.model_dump(mode="json")
                seen.add((d["device_id"], d["rule_id"], d["severity"]))
                assert d["cameras"] == svc.linkage.for_device(d["device_id"], d["position"])
        stored = (await svc.alarms.page(limit=500)).items
        assert {(x.device_id, x.rule_id) for x in stored} >= {(d, r) for d, r, _ in truth}
    finally:
        for pub in pubs:
            pub.close()
        await svc.stop()
        await store.close()
