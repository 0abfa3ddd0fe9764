"""Signals, anomalies, malformed input and the demo site's devices, without a broker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.config import Site, load_site
from simulators.cameras.geometry import point_in_polygon
from simulators.sensors import (
    ANOMALY_KINDS,
    MALFORMED_KINDS,
    DeviceStream,
    evaluate,
    highest,
    make_anomaly,
    malformed,
    scripted_day,
)
from simulators.sensors.signals import local_hour

REPO = Path(__file__).resolve().parents[2]
START = 1_750_000_000.0
DAY = 86400.0


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site(REPO / "sites" / "demo-district.yaml")


def test_demo_site_has_hundreds_of_devices_of_every_kind(site: Site) -> None:
    kinds = {p.kind for p in site.device_profiles}
    assert kinds == {"smoke", "water_level", "manhole", "gas", "air_quality", "door", "gps"}
    assert 300 <= len(site.devices) <= 500
    assert {d.profile for d in site.devices} == {p.id for p in site.device_profiles}
    assert {d.grid for d in site.devices} == {g.id for g in site.grids()}
    for d in site.devices:
        assert d.id.startswith("dev-") and d.id[-4:].isdigit()
        ring = site.grid_path[d.grid][2].geometry.coordinates[0]
        assert point_in_polygon((d.position[0], d.position[1]), ring)
    for p in site.device_profiles:
        assert p.inactivity_timeout_seconds is not None
        assert {r.kind for r in p.alarm_rules} >= {"threshold", "missing"} or p.kind == "gps"
        assert all(
            f.min is not None and f.max is not None for f in p.telemetry if f.type == "number"
        )


def _sample_devices(site: Site, per_profile: int) -> list[str]:
    out: list[str] = []
    for p in site.device_profiles:
        out += [d.id for d in site.devices if d.profile == p.id][:per_profile]
    return out


@pytest.mark.parametrize("start", [START, START + 7 * 3600])
def test_normal_day_stays_in_range_and_raises_nothing(site: Site, start: float) -> None:
    for dev_id in _sample_devices(site, 3):
        dev = site.device_by_id[dev_id]
        profile = site.profile_by_id[dev.profile]
        samples = list(DeviceStream(dev, profile, site, start=start, seed=7).until(start + DAY))
        assert len(samples) >= DAY / 120 - 1
        fields = {f.key: f for f in profile.telemetry}
        for _, values in samples:
            assert set(values) == set(fields)
            for k, v in values.items():
                f = fields[k]
                if f.type == "number":
                    assert f.min is not None and f.max is not None and f.min <= v <= f.max, (k, v)
        assert evaluate(profile, samples, end=start + DAY) == [], dev_id


def test_daily_cycles_are_visible(site: Site) -> None:
    air = next(d for d in site.devices if d.profile == "air-quality")
    stream = DeviceStream(air, site.profile_by_id[air.profile], site, start=START)
    by_hour: dict[int, list[float]] = {}
    for ts, v in stream.until(START + DAY):
        by_hour.setdefault(int(local_hour(ts)), []).append(float(v["pm25"]))  # type: ignore[arg-type]
    mean = {h: sum(x) / len(x) for h, x in by_hour.items()}
    assert mean[8] > 1.2 * mean[13]  # morning rush hour over early afternoon
    smoke = next(d for d in site.devices if d.profile == "smoke-detector")
    temps = {
        int(local_hour(ts)): v["temperature"]
        for ts, v in DeviceStream(
            smoke, site.profile_by_id[smoke.profile], site, start=START
        ).until(START + DAY)
    }
    assert temps[15] > temps[4] + 3  # warm afternoon, cool night


def test_scripted_day_fires_exactly_its_ground_truth(site: Site) -> None:
    anomalies = scripted_day(site, START, seed=3)
    assert {a.kind for a in anomalies} == set(ANOMALY_KINDS)
    assert len({a.device_id for a in anomalies}) == len(anomalies)
    for a in anomalies:
        dev = site.device_by_id[a.device_id]
        profile = site.profile_by_id[dev.profile]
        assert a.start >= START and a.end <= START + DAY
        samples = list(
            DeviceStream(dev, profile, site, start=START, anomalies=[a]).until(START + DAY)
        )
        fired = evaluate(profile, samples, end=START + DAY)
        assert highest(fired) == dict(a.expected), a.kind
        assert all(f.ts >= a.start for f in fired)
        if a.kind == "door_forced":
            assert 2 <= local_hour(a.start) < 4
        if a.kind == "silent":
            assert not [s for s in samples if a.start <= s[0] < a.end]
        line = a.truth()[0]
        assert json.loads(json.dumps(line))["rule_id"] == a.expected[0][0]


def test_make_anomaly_refuses_a_wrong_device(site: Site) -> None:
    door = next(d for d in site.devices if d.profile == "door-sensor")
    with pytest.raises(ValueError):
        make_anomaly("gas_leak", door.id, START, site.profile_by_id[door.profile])


def test_every_malformed_kind_is_bad_in_its_own_way(site: Site) -> None:
    dev = next(d for d in site.devices if d.profile == "smoke-detector")
    profile = site.profile_by_id[dev.profile]
    fields = {f.key: f for f in profile.telemetry}
    own = f"hub/v1/devices/{dev.id}/telemetry"
    for kind in MALFORMED_KINDS:
        msgs = malformed(kind, dev, profile, seq=5, ts=START, other_device="dev-gas-0001")
        assert msgs, kind
        for topic, payload in msgs:
            if kind == "foreign_topic":
                assert topic == "hub/v1/devices/dev-gas-0001/telemetry"
                continue
            assert topic == own
            if kind == "bad_json":
                with pytest.raises(ValueError):
                    json.loads(payload)
                continue
            if kind == "not_utf8":
                with pytest.raises(UnicodeDecodeError):
                    payload.decode()
                continue
            body = json.loads(payload)
            if kind == "oversized":
                assert len(payload) > 64 * 1024
            elif kind == "flood":
                assert len(msgs) > profile.max_messages_per_minute
                assert [json.loads(p)["seq"] for _, p in msgs] == list(range(6, 6 + len(msgs)))
            elif kind == "missing_values":
                assert not (isinstance(body, dict) and "values" in body)
            elif kind == "bad_ts":
                assert not isinstance(body["ts"], int | float) or body["ts"] < 0
            elif kind == "unknown_key":
                assert set(body["values"]) - set(fields)
            elif kind == "out_of_range":
                assert any(
                    fields[k].max is not None and v > fields[k].max  # type: ignore[operator]
                    for k, v in body["values"].items()
                )
            elif kind == "wrong_type":
                vals = body["values"]
                assert not isinstance(vals, dict) or all(
                    isinstance(v, str) for k, v in vals.items() if fields[k].type == "number"
                )


def test_city_reads_device_passwords(tmp_path: Path) -> None:
    from simulators.city import read_passwords

    p = tmp_path / "pw"
    p.write_text("# devices\ndev-smoke-0001:abc\n\ndev-gas-0001: x:y \n", encoding="utf-8")
    assert read_passwords(p) == {"dev-smoke-0001": "abc", "dev-gas-0001": "x:y"}
