"""The demo fleet through the rule engine: scripted anomalies raise their ground-truth alarms
(recall 1.0) and a normal day raises none. Samples go straight to the engine (in time order,
the engine's clock following them) for speed; test_alarms_e2e.py goes through MQTT."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from pathlib import Path

import pytest
from alarm_helpers import Clock, rig

from hub.config import SEVERITIES, Site, load_site
from simulators.sensors import DeviceStream, scripted_day
from simulators.sensors.anomalies import Anomaly
from simulators.sensors.stream import Sample

REPO = Path(__file__).resolve().parents[2]
START = 1_750_000_000.0
DAY = 86_400.0


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site(REPO / "sites" / "demo-district.yaml")


def _merged(
    site: Site, device_ids: list[str], start: float, end: float, anomalies: list[Anomaly]
) -> Iterator[tuple[float, str, Sample]]:
    def one(dev_id: str) -> Iterator[tuple[float, str, Sample]]:
        dev = site.device_by_id[dev_id]
        s = DeviceStream(
            dev, site.profile_by_id[dev.profile], site, start=start, seed=3, anomalies=anomalies
        )
        for sample in s.until(end):
            yield sample[0], dev_id, sample

    return heapq.merge(*(one(d) for d in device_ids), key=lambda x: (x[0], x[1]))


async def _feed(
    tmp: Path, site: Site, device_ids: list[str], anomalies: list[Anomaly], end: float
) -> set[tuple[str, str, str]]:
    """(device, rule, severity) of every alarm state the engine published."""
    clock = Clock(START)
    seen: set[tuple[str, str, str]] = set()
    async with rig(tmp, site=site, clock=clock) as r:
        fed = 0
        for ts, dev_id, (_, values) in _merged(site, device_ids, START, end, anomalies):
            fed += 1
            await r.engine.expire(ts)
            clock.t = ts
            await r.engine.on_telemetry(dev_id, ts, values)
        await r.engine.expire(end)
        assert fed > 0 and r.engine.evaluated == fed
        for d in r.drain():
            seen.add((d["device_id"], d["rule_id"], d["severity"]))
        # A cleared alarm stays cleared; there are no duplicates of open ones.
        open_ = (await r.service.page(state="open", limit=500)).items
        assert len({(a.device_id, a.rule_id) for a in open_}) == len(open_)
    return seen


async def test_scripted_anomalies_raise_their_alarms(tmp_path: Path, site: Site) -> None:
    anomalies = scripted_day(site, START, seed=5)
    assert {a.kind for a in anomalies} >= {"smoke_spike", "water_rise", "gas_leak", "silent"}
    devices = sorted({a.device_id for a in anomalies})
    seen = await _feed(tmp_path, site, devices, anomalies, START + DAY)
    truth = {
        (str(t["device_id"]), str(t["rule_id"]), str(t["severity"]))
        for a in anomalies
        for t in a.truth()
    }
    missed = truth - seen
    assert not missed, f"recall {1 - len(missed) / len(truth):.2f}; missed {missed}"
    # Nothing more severe than the truth on the anomaly's own rules.
    worst = {(d, r): s for d, r, s in truth}
    for d, r, s in seen:
        if (d, r) in worst:
            assert SEVERITIES.index(s) >= SEVERITIES.index(worst[(d, r)]), (d, r, s)


@pytest.mark.slow
async def test_normal_day_of_the_demo_fleet_raises_nothing(tmp_path: Path, site: Site) -> None:
    # Every fifth device (all profiles): the whole fleet takes ~30 s, mostly signal synthesis.
    devices = [d.id for d in site.devices if d.enabled][::5]
    assert {site.device_by_id[d].profile for d in devices} == {p.id for p in site.device_profiles}
    seen = await _feed(tmp_path, site, devices, [], START + DAY)
    assert seen == set()
