"""Normal signals per device: daily cycles, bounded noise, slow drift, battery drain.

A ``DeviceSignal`` is stateful and must be sampled at increasing simulated times (epoch seconds).
Everything derives from a seed and the device id, so a run is reproducible. Noise is bounded
(clipped AR(1)) so that a normal day provably stays inside every create condition of the demo
profiles; anomalies are overlays applied on top (``anomalies.py``).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from typing import Any

from hub.config import Device, DeviceProfile, Site

Value = float | bool | str
LOCAL_OFFSET = 8 * 3600  # Asia/Shanghai, no DST: daily cycles follow local time
DAY = 86400.0
TIDE = 12.42 * 3600  # semi-diurnal tide period (rivers near the Yangtze estuary feel it)

INTERVALS: dict[str, float] = {
    "smoke": 60.0,
    "water_level": 60.0,
    "manhole": 120.0,
    "gas": 30.0,
    "air_quality": 60.0,
    "door": 30.0,
    "gps": 10.0,
    "other": 60.0,
}
"""Simulated seconds between reports, per profile kind."""


def local_hour(ts: float) -> float:
    return ((ts + LOCAL_OFFSET) % DAY) / 3600.0


def _bump(hour: float, centre: float, width: float) -> float:
    """A smooth 0..1 bump around `centre` (hours), wrapping midnight."""
    d = min(abs(hour - centre), 24 - abs(hour - centre))
    return math.exp(-((d / width) ** 2))


def rush(hour: float) -> float:
    """0..1 traffic intensity: morning and evening rush hours."""
    return min(1.0, _bump(hour, 8.0, 1.2) + _bump(hour, 18.0, 1.5))


def ambient(ts: float, mean: float = 20.0, amplitude: float = 4.0) -> float:
    """Temperature: coolest before dawn, warmest mid-afternoon."""
    return mean + amplitude * math.cos(2 * math.pi * (local_hour(ts) - 15.0) / 24.0)


class Noise:
    """AR(1) noise, clipped to +-3 sigma: realistic correlation, provable bounds."""

    def __init__(self, rng: random.Random, sigma: float, corr: float = 0.8) -> None:
        self.rng, self.sigma, self.corr = rng, sigma, corr
        self.x = 0.0

    def __call__(self) -> float:
        g = self.rng.gauss(0.0, 1.0)
        self.x = self.corr * self.x + math.sqrt(1 - self.corr**2) * self.sigma * g
        self.x = max(-3 * self.sigma, min(3 * self.sigma, self.x))
        return self.x


def iaqi(c: float, table: Sequence[tuple[float, float]]) -> float:
    """Individual AQI by linear interpolation between breakpoints (HJ 633-2012)."""
    for (c0, i0), (c1, i1) in itertools.pairwise(table):
        if c <= c1:
            return i0 + (i1 - i0) * (c - c0) / (c1 - c0)
    return 500.0


PM25_TABLE = [
    (0, 0),
    (35, 50),
    (75, 100),
    (115, 150),
    (150, 200),
    (250, 300),
    (350, 400),
    (500, 500),
]
PM10_TABLE = [
    (0, 0),
    (50, 50),
    (150, 100),
    (250, 150),
    (350, 200),
    (420, 300),
    (500, 400),
    (600, 500),
]


def aqi(pm25: float, pm10: float) -> float:
    return max(iaqi(pm25, PM25_TABLE), iaqi(pm10, PM10_TABLE))


def _bounds(site: Site) -> tuple[float, float, float, float]:
    xs = [p[0] for g in site.grids() for p in g.geometry.coordinates[0]]
    ys = [p[1] for g in site.grids() for p in g.geometry.coordinates[0]]
    return min(xs), min(ys), max(xs), max(ys)


class DeviceSignal:
    """The normal telemetry of one device."""

    def __init__(
        self, device: Device, profile: DeviceProfile, site: Site, *, start: float, seed: int = 0
    ) -> None:
        self.device, self.profile, self.kind = device, profile, profile.kind
        self.rng = random.Random(f"{seed}/{device.id}")
        r = self.rng
        self.t0 = start
        self.interval = INTERVALS.get(self.kind, 60.0)
        self.battery0 = 35.0 + 65.0 * r.random()
        self.drain_per_day = 0.05 + 0.45 * r.random()
        self.offset = r.uniform(-1.0, 1.0)  # per-unit calibration offset
        self.drift_per_day = r.uniform(-0.02, 0.05)
        self.phase = r.uniform(0, 2 * math.pi)
        self.n1, self.n2 = Noise(r, 1.0), Noise(r, 1.0)
        # door
        self.door_open_until = -1.0
        self.door_next_open = start + r.expovariate(1 / 600)
        # gps
        self.bounds = _bounds(site)
        self.lon, self.lat = device.position
        self.target = (self.lon, self.lat)
        self.speed = 0.0
        self.heading = 0.0
        self.park_until = start
        self.last_ts = start

    def _days(self, ts: float) -> float:
        return (ts - self.t0) / DAY

    def battery(self, ts: float) -> float:
        return round(max(0.0, self.battery0 - self.drain_per_day * self._days(ts)), 1)

    def sample(self, ts: float) -> dict[str, Value]:
        values = getattr(self, f"_{self.kind}", self._other)(ts)
        out: dict[str, Value] = {}
        for f in self.profile.telemetry:
            if f.key in values:
                out[f.key] = values[f.key]
            elif f.key == "battery":
                out[f.key] = self.battery(ts)
            else:
                out[f.key] = self._generic(f.type, f.min, f.max)
        self.last_ts = ts
        return out

    def _generic(self, type_: str, lo: float | None, hi: float | None) -> Value:
        if type_ == "boolean":
            return False
        if type_ == "string":
            return "ok"
        a = 0.0 if lo is None else lo
        b = a + 100.0 if hi is None else hi
        return round(a + (b - a) * (0.3 + 0.02 * self.n1()), 3)

    def _other(self, ts: float) -> dict[str, Any]:
        return {}

    def _smoke(self, ts: float) -> dict[str, Any]:
        drift = self.drift_per_day * self._days(ts)
        smoke = max(0.0, 0.25 + 0.1 * self.offset + drift + 0.06 * self.n1())
        temp = ambient(ts, 21.0 + 2 * self.offset, 3.0) + 0.15 * self.n2()
        return {"smoke": round(smoke, 2), "temperature": round(temp, 1)}

    def _water_level(self, ts: float) -> dict[str, Any]:
        base = 2.0 + 0.4 * self.offset
        tide = 0.35 * math.sin(2 * math.pi * ts / TIDE + self.phase)
        # A daily afternoon shower whose strength varies per gauge: slow, well below flood rates.
        shower = (2.0 + 6.0 * (self.offset + 1) / 2) * _bump(local_hour(ts), 15.0, 1.5)
        level = base + tide + 0.02 * shower + 0.004 * self.n1()
        rain = max(0.0, shower + 0.3 * self.n2())
        return {"level": round(level, 3), "rain": round(rain, 1)}

    def _manhole(self, ts: float) -> dict[str, Any]:
        traffic = rush(local_hour(ts))
        tilt = 1.2 + 0.7 * self.offset + 0.25 * self.n1() + 0.6 * traffic * abs(self.n2())
        return {"tilt": round(max(0.0, tilt), 2), "water": False}

    def _gas(self, ts: float) -> dict[str, Any]:
        h = local_hour(ts)
        cooking = _bump(h, 12.0, 1.0) + _bump(h, 18.5, 1.0)  # kitchens at lunch and dinner
        lel = max(0.0, 0.4 + 0.2 * self.offset + 0.8 * cooking + 0.25 * self.n1())
        co = max(0.0, 2.0 + 6.0 * rush(h) + 3.0 * cooking + 1.0 * self.n2())
        return {"lel": round(lel, 2), "co": round(co, 1)}

    def _air_quality(self, ts: float) -> dict[str, Any]:
        h = local_hour(ts)
        inversion = _bump(h, 5.0, 2.5)  # night-time inversion traps particles near the ground
        base = 35.0 + 10.0 * self.offset
        pm25 = max(3.0, base * (1 + 0.5 * rush(h) + 0.3 * inversion) + 4.0 * self.n1())
        pm10 = max(pm25, pm25 * (1.6 + 0.2 * rush(h)) + 6.0 * self.n2())
        temp = ambient(ts, 18.0 + self.offset, 6.0)
        hum = 65.0 - 15.0 * math.cos(2 * math.pi * (h - 15.0) / 24.0) + 2.0 * self.n1()
        return {
            "pm25": round(pm25, 1),
            "pm10": round(pm10, 1),
            "aqi": round(aqi(pm25, pm10)),
            "temperature": round(temp, 1),
            "humidity": round(min(99.0, max(10.0, hum)), 1),
        }

    def _door(self, ts: float) -> dict[str, Any]:
        # Openings arrive as a Poisson process, busy by day, rare at night; each is short.
        while self.door_next_open <= ts:
            h = local_hour(self.door_next_open)
            busy = 7.0 <= h < 22.0
            self.door_open_until = self.door_next_open + self.rng.uniform(5.0, 120.0)
            self.door_next_open = self.door_open_until + self.rng.expovariate(
                1 / (600.0 if busy else 7200.0)
            )
        return {"open": ts < self.door_open_until, "forced": False}

    def _gps(self, ts: float) -> dict[str, Any]:
        dt = max(0.0, ts - self.last_ts)
        x0, y0, x1, y1 = self.bounds
        if ts < self.park_until:
            self.speed = 0.0
        else:
            tx, ty = self.target
            # Metres per degree at ~32 N.
            dx, dy = (tx - self.lon) * 94_400, (ty - self.lat) * 111_000
            dist = math.hypot(dx, dy)
            step = self.speed / 3.6 * dt
            if dist <= max(step, 1.0):
                self.lon, self.lat = tx, ty
                h = local_hour(ts)
                pause = 1800.0 if (h < 6 or h >= 23) else 120.0
                self.park_until = ts + self.rng.uniform(0.2, 1.0) * pause
                m = 0.05
                self.target = (
                    self.rng.uniform(x0 + m * (x1 - x0), x1 - m * (x1 - x0)),
                    self.rng.uniform(y0 + m * (y1 - y0), y1 - m * (y1 - y0)),
                )
                self.speed = self.rng.uniform(15.0, 50.0)
            else:
                self.lon += dx / dist * step / 94_400
                self.lat += dy / dist * step / 111_000
                self.heading = math.degrees(math.atan2(dx, dy)) % 360.0
        return {
            "lon": round(self.lon, 6),
            "lat": round(self.lat, 6),
            "speed": round(max(0.0, self.speed + (0.8 * self.n1() if self.speed else 0.0)), 1),
            "heading": round(self.heading, 1),
        }
