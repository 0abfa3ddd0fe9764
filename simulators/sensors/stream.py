"""One device's sample stream: its normal signal at its report interval, with anomalies applied
and silent periods left out. Pure (no network): the fleet publishes what it yields, tests and
the reference rule check read it directly."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

from hub.config import Device, DeviceProfile, Site
from simulators.sensors.anomalies import Anomaly
from simulators.sensors.signals import DeviceSignal, Value

Sample = tuple[float, dict[str, Value]]


class DeviceStream:
    def __init__(
        self,
        device: Device,
        profile: DeviceProfile,
        site: Site,
        *,
        start: float,
        seed: int = 0,
        anomalies: Sequence[Anomaly] = (),
    ) -> None:
        self.device, self.profile = device, profile
        self.signal = DeviceSignal(device, profile, site, start=start, seed=seed)
        self.interval = self.signal.interval
        # Spread first reports over one interval so devices do not publish in lockstep.
        self.next_ts = start + random.Random(f"{seed}/{device.id}/phase").random() * self.interval
        self.anomalies = [a for a in anomalies if a.device_id == device.id]

    def due(self, now: float, limit: int = 1_000_000) -> list[Sample]:
        """Samples with ts <= now (at most `limit`, the rest stay due)."""
        out: list[Sample] = []
        while self.next_ts <= now and len(out) < limit:
            ts = self.next_ts
            self.next_ts += self.interval
            values = self.signal.sample(ts)
            if any(a.silent(ts) for a in self.anomalies):
                continue
            for a in self.anomalies:
                values = a.apply(ts, values)
            out.append((ts, values))
        return out

    def until(self, end: float) -> Iterator[Sample]:
        while self.next_ts <= end:
            yield from self.due(min(end, self.next_ts + 3600 * self.interval), 4096)
