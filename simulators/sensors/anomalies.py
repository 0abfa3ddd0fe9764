"""Scripted anomalies with ground truth: overlays on the normal signal of one device.

Each anomaly names the alarms it must raise (rule id and the highest severity it reaches); the
simulator writes one ground-truth JSON line per expected alarm when the anomaly starts:
``{"device_id", "rule_id", "severity", "start", "anomaly"}`` (start: epoch seconds, simulated).
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal, get_args

from hub.config import DeviceProfile, Severity, Site
from simulators.sensors.signals import DAY, LOCAL_OFFSET, Value

AnomalyKind = Literal[
    "smoke_spike", "water_rise", "manhole_tilt", "gas_leak", "silent", "door_forced"
]
ANOMALY_KINDS: tuple[AnomalyKind, ...] = get_args(AnomalyKind)

# kind -> (profile kind it applies to, simulated duration, expected (rule id, severity))
_SPEC: dict[str, tuple[str | None, float, tuple[tuple[str, Severity], ...]]] = {
    "smoke_spike": ("smoke", 900.0, (("smoke-high", "critical"),)),
    "water_rise": (
        "water_level",
        240 * 60.0,
        (("water-level", "critical"), ("water-rise", "major")),
    ),
    "manhole_tilt": ("manhole", 1200.0, (("manhole-tilt", "critical"),)),
    "gas_leak": ("gas", 1800.0, (("gas-lel", "critical"), ("gas-sustained", "minor"))),
    "door_forced": ("door", 240.0, (("door-forced", "critical"),)),
    "silent": (None, 0.0, ()),  # duration and rule come from the profile's missing rule
}


@dataclass(frozen=True)
class Anomaly:
    kind: AnomalyKind
    device_id: str
    start: float
    duration: float
    expected: tuple[tuple[str, Severity], ...] = field(default=())

    @property
    def end(self) -> float:
        return self.start + self.duration

    def active(self, ts: float) -> bool:
        return self.start <= ts < self.end

    def silent(self, ts: float) -> bool:
        return self.kind == "silent" and self.active(ts)

    def apply(self, ts: float, values: dict[str, Value]) -> dict[str, Value]:
        """The anomalous values at `ts` (the normal ones outside the anomaly)."""
        if not self.active(ts):
            return values
        p = ts - self.start
        v = dict(values)
        if self.kind == "smoke_spike":
            up = min(1.0, p / 120.0, (self.duration - p) / 300.0)
            v["smoke"] = round(float(values["smoke"]) + 15.0 * up, 2)
            v["temperature"] = round(float(values["temperature"]) + 6.0 * up, 1)
        elif self.kind == "water_rise":
            # 40 min rising 0.09 m/min, 20 min at the crest, 3 h receding.
            rise = min(p / 2400.0, 1.0, (self.duration - p) / 10800.0) * 3.6
            v["level"] = round(float(values["level"]) + rise, 3)
            v["rain"] = round(float(values["rain"]) + 40.0 * min(1.0, p / 600.0), 1)
        elif self.kind == "manhole_tilt":
            v["tilt"] = round(35.0 + float(values["tilt"]), 2)
        elif self.kind == "gas_leak":
            lel = min(65.0 * p / 900.0, 65.0, 65.0 * (self.duration - p) / 300.0)
            v["lel"] = round(float(values["lel"]) + lel, 2)
        elif self.kind == "door_forced":
            v["open"], v["forced"] = True, True
        return v

    def truth(self) -> list[dict[str, object]]:
        return [
            {
                "device_id": self.device_id,
                "rule_id": rule,
                "severity": sev,
                "start": self.start,
                "anomaly": self.kind,
            }
            for rule, sev in self.expected
        ]


def make_anomaly(
    kind: AnomalyKind, device_id: str, start: float, profile: DeviceProfile
) -> Anomaly:
    """An anomaly for a device of a demo profile; ValueError when the profile cannot show it."""
    pkind, duration, expected = _SPEC[kind]
    if kind == "silent":
        missing = [r for r in profile.alarm_rules if r.kind == "missing"]
        if not missing:
            raise ValueError(f"profile {profile.id} has no missing-data rule")
        rule = missing[0]
        sev, cond = next(iter(rule.create.items()))
        # Long enough that any reasonable evaluation sees the gap, whatever the report interval.
        return Anomaly(kind, device_id, start, 2.0 * float(cond.value) + 300.0, ((rule.id, sev),))
    if profile.kind != pkind:
        raise ValueError(f"{kind} needs a {pkind} device, {device_id} is {profile.kind}")
    ids = {r.id for r in profile.alarm_rules}
    missing_ids = [r for r, _ in expected if r not in ids]
    if missing_ids:
        raise ValueError(f"profile {profile.id} lacks rules {missing_ids} for {kind}")
    return Anomaly(kind, device_id, start, duration, expected)


@dataclass(frozen=True)
class PlannedAnomaly:
    """An anomaly of `kind` on `device_id`, `after` simulated seconds after the fleet starts: an
    alarm drill, scheduled by hand instead of by `scripted_day`."""

    kind: AnomalyKind
    device_id: str
    after: float

    @classmethod
    def parse(cls, spec: str) -> PlannedAnomaly:
        """``KIND:DEVICE:SECONDS``, e.g. ``smoke_spike:dev-smoke-0007:30``; ValueError if bad."""
        kind, _, rest = spec.partition(":")
        device_id, _, seconds = rest.rpartition(":")
        if kind not in ANOMALY_KINDS:
            raise ValueError(f"{spec!r}: kind must be one of {', '.join(ANOMALY_KINDS)}")
        if not device_id:
            raise ValueError(f"{spec!r}: expected KIND:DEVICE:SECONDS")
        try:
            after = float(seconds)
        except ValueError:
            raise ValueError(f"{spec!r}: SECONDS must be a number") from None
        if not math.isfinite(after) or after < 0:
            raise ValueError(f"{spec!r}: SECONDS must be >= 0")
        return cls(kind, device_id, after)

    def at(self, site: Site, start: float) -> Anomaly:
        """The anomaly for a fleet started at `start`; ValueError when the site's device cannot
        show it (unknown, disabled, or a profile of another kind)."""
        dev = next((d for d in site.devices if d.id == self.device_id), None)
        if dev is None or not dev.enabled:
            raise ValueError(f"no enabled device {self.device_id!r} in the site")
        profile = site.profile_by_id[dev.profile]
        return make_anomaly(self.kind, dev.id, start + self.after, profile)


def scripted_day(
    site: Site, start: float, *, seed: int = 0, per_kind: int = 1, span: float = DAY
) -> list[Anomaly]:
    """`per_kind` anomalies of every kind the site's profiles allow, spread over
    [start, start + span) on distinct devices; a door is forced at night (02:00-04:00 local)."""
    rng = random.Random(seed)
    used: set[str] = set()
    out: list[Anomaly] = []
    for kind in ANOMALY_KINDS:
        pkind, _, _ = _SPEC[kind]
        candidates = [
            d
            for d in site.devices
            if d.enabled
            and d.id not in used
            and (pkind is None or site.profile_by_id[d.profile].kind == pkind)
        ]
        rng.shuffle(candidates)
        made = 0
        for dev in candidates:
            if made >= per_kind:
                break
            profile = site.profile_by_id[dev.profile]
            try:
                probe = make_anomaly(kind, dev.id, start, profile)
            except ValueError:
                continue
            latest = start + span - probe.duration - 600.0
            if latest < start + 300.0:
                continue
            t = rng.uniform(start + 300.0, latest)
            if kind == "door_forced":
                t = _night(start, latest, rng) or t
            out.append(make_anomaly(kind, dev.id, t, profile))
            used.add(dev.id)
            made += 1
    return sorted(out, key=lambda a: a.start)


def _night(start: float, latest: float, rng: random.Random) -> float | None:
    """A time between 02:00 and 04:00 local inside [start + 300, latest], if there is one."""
    day0 = (start + LOCAL_OFFSET) // DAY * DAY - LOCAL_OFFSET
    for d in range(3):
        t = day0 + d * DAY + 2 * 3600 + rng.uniform(0, 2 * 3600)
        if start + 300.0 <= t <= latest:
            return t
    return None


class TruthWriter:
    """Appends ground-truth lines to a JSONL file (flushed per line: readers tail it live)."""

    def __init__(self, path: Path | None) -> None:
        self._f: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._f = path.open("a", encoding="utf-8")

    def write(self, anomaly: Anomaly) -> None:
        if self._f is None:
            return
        for line in anomaly.truth():
            self._f.write(json.dumps(line, ensure_ascii=False) + "\n")
        self._f.flush()

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None
