"""The sensor fleet against a private Mosquitto (password file + ACL) on a free port."""

from __future__ import annotations

import asyncio
import getpass
import json
import queue
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hub.config import Site, load_site
from simulators.sensors import SensorFleet, make_anomaly
from simulators.sensors.rulecheck import evaluate

REPO = Path(__file__).resolve().parents[2]
HUB_USER, HUB_PASS = "hub", "hub-secret"


@dataclass
class Broker:
    port: int
    passwords: dict[str, str]


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site(REPO / "sites" / "demo-district.yaml")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory, site: Site) -> Iterator[Broker]:
    d = tmp_path_factory.mktemp("mosquitto")
    port = _free_port()
    passwords = {dev.id: f"pw-{dev.id}" for dev in site.devices}
    pw = d / "passwd"
    pw.write_text(
        "".join(f"{u}:{p}\n" for u, p in {HUB_USER: HUB_PASS, **passwords}.items()),
        encoding="utf-8",
    )
    subprocess.run(["mosquitto_passwd", "-U", str(pw)], check=True)
    acl = d / "acl"
    acl.write_text(
        f"user {HUB_USER}\ntopic readwrite #\n\n"
        "pattern write hub/v1/devices/%u/#\npattern read hub/v1/devices/%u/commands/#\n",
        encoding="utf-8",
    )
    conf = d / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {pw}\n"
        f"acl_file {acl}\npersistence false\nset_tcp_nodelay true\n"
        f"user {getpass.getuser()}\nmax_queued_messages 100000\n",
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        ["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 5
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"mosquitto did not start: {proc.stderr}") from None
            time.sleep(0.05)
    yield Broker(port, passwords)
    proc.terminate()
    proc.wait(5)


class Listener:
    """The hub's side: a paho client on its own network thread collecting everything."""

    def __init__(self, port: int, pattern: str = "hub/v1/devices/#") -> None:
        self.q: queue.Queue[tuple[str, bytes, bool]] = queue.Queue()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"hub-test-{port}-{pattern}")
        self.c.username_pw_set(HUB_USER, HUB_PASS)
        ready = queue.Queue[int]()
        self.c.on_message = lambda c, u, m: self.q.put((m.topic, m.payload, m.retain))
        self.c.on_subscribe = lambda c, u, mid, rc, p: ready.put(mid)
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        self.c.subscribe(pattern, qos=1)
        ready.get(timeout=5)

    def drain(self) -> list[tuple[str, Any, bool]]:
        out = []
        while True:
            try:
                t, p, r = self.q.get_nowait()
            except queue.Empty:
                return out
            try:
                out.append((t, json.loads(p), r))
            except ValueError:
                out.append((t, p, r))

    async def wait_for(self, pred: Any, within: float = 5.0) -> list[tuple[str, Any, bool]]:
        got: list[tuple[str, Any, bool]] = []
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            got += self.drain()
            if pred(got):
                return got
            await asyncio.sleep(0.02)
        raise AssertionError(f"condition not met; got {len(got)} messages: {got[-3:]}")

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def _pick(site: Site) -> list[str]:
    """Two devices of every profile."""
    out: list[str] = []
    for p in site.device_profiles:
        out += [d.id for d in site.devices if d.profile == p.id][:2]
    return out


def _flatten(payload: Any) -> list[dict[str, Any]]:
    return payload if isinstance(payload, list) else [payload]


def _last_state(got: list[tuple[str, Any, bool]], device_id: str) -> str | None:
    states = [p["state"] for t, p, _ in got if t == f"hub/v1/devices/{device_id}/status"]
    return states[-1] if states else None


async def test_fleet_publishes_valid_telemetry_with_own_credentials(
    broker: Broker, site: Site
) -> None:
    ids = _pick(site)
    lis = Listener(broker.port)
    start = 1_750_000_000.0
    try:
        # 10 simulated minutes per wall second.
        async with SensorFleet(
            site, port=broker.port, password=broker.passwords, devices=ids,
            speed=600, start=start, end=start + 1800,
        ) as fleet:  # fmt: skip
            await fleet.wait_connected()
            await asyncio.wait_for(fleet.done.wait(), 10)
            await fleet.wait_acked()
            assert all(fleet.devices[i].connects == 1 for i in ids)
            seqs = {i: fleet.devices[i].seq for i in ids}
        got = await lis.wait_for(
            lambda g: (
                sum(len(_flatten(p)) for t, p, _ in g if t.endswith("/telemetry"))
                >= sum(seqs.values())
                # The goodbye statuses are published at stop, after the last telemetry.
                and all(_last_state(g, i) == "offline" for i in ids)
            )
        )
    finally:
        lis.close()
    by_dev: dict[str, list[dict[str, Any]]] = {}
    status: dict[str, list[dict[str, Any]]] = {}
    for t, p, _ in got:
        dev, leaf = t.split("/")[3], t.split("/")[4]
        if leaf == "telemetry":
            by_dev.setdefault(dev, []).extend(_flatten(p))
        elif leaf == "status":
            status.setdefault(dev, []).append(p)
    assert set(by_dev) == set(ids)
    for dev_id, msgs in by_dev.items():
        profile = site.profile_by_id[site.device_by_id[dev_id].profile]
        assert [m["seq"] for m in msgs] == list(range(1, seqs[dev_id] + 1))
        ts = [m["ts"] for m in msgs]
        assert ts == sorted(ts) and start <= ts[0] and ts[-1] <= start + 1800
        # 30 simulated minutes at the profile's interval (first report within one interval).
        from simulators.sensors import INTERVALS

        assert len(msgs) >= 1800 // INTERVALS[profile.kind] - 1
        fields = {f.key: f for f in profile.telemetry}
        for m in msgs:
            assert set(m["values"]) == set(fields)
            for k, v in m["values"].items():
                f = fields[k]
                if f.type == "boolean":
                    assert isinstance(v, bool)
                else:
                    assert isinstance(v, int | float) and not isinstance(v, bool)
                    assert f.min is not None and f.max is not None and f.min <= v <= f.max
        assert evaluate(profile, [(m["ts"], m["values"]) for m in msgs]) == []
        states = [s["state"] for s in status[dev_id]]
        assert states[0] == "online" and states[-1] == "offline", (dev_id, status[dev_id])
        assert len({s["session"] for s in status[dev_id]}) == 1


async def test_kill_fires_last_will_and_revive_starts_newer_session(
    broker: Broker, site: Site
) -> None:
    ids = _pick(site)[:3]
    victim = ids[0]
    lis = Listener(broker.port, f"hub/v1/devices/{victim}/status")
    try:
        async with SensorFleet(
            site, port=broker.port, password=broker.passwords, devices=ids, speed=60
        ) as fleet:
            await fleet.wait_connected()
            first = fleet.devices[victim].session
            await lis.wait_for(lambda g: any(p["state"] == "online" for _, p, _ in g))
            await fleet.kill(victim)
            assert not fleet.devices[victim].connected
            will = await lis.wait_for(lambda g: any(p["state"] == "offline" for _, p, _ in g))
            offline = next(p for _, p, _ in will if p["state"] == "offline")
            assert offline["session"] == first
            # Others are unaffected.
            assert all(fleet.devices[i].connected for i in ids[1:])
            await fleet.revive(victim)
            await fleet.wait_connected()
            back = await lis.wait_for(lambda g: any(p["state"] == "online" for _, p, _ in g))
            second = next(p for _, p, _ in back if p["state"] == "online")["session"]
            assert second > first  # UUIDv7 strings sort by time: a stale will is recognisable
    finally:
        lis.close()
    # The will was retained: a late subscriber sees the device's last state.
    late = Listener(broker.port, f"hub/v1/devices/{victim}/status")
    try:
        got = await late.wait_for(lambda g: len(g) >= 1)
        assert got[0][2] is True and got[0][1]["state"] == "offline"
    finally:
        late.close()


async def test_wrong_password_is_refused_and_foreign_topic_is_dropped(
    broker: Broker, site: Site
) -> None:
    ids = _pick(site)[:2]
    lis = Listener(broker.port, f"hub/v1/devices/{ids[1]}/telemetry")
    bad = {ids[0]: "wrong", ids[1]: broker.passwords[ids[1]]}
    try:
        async with SensorFleet(
            site, port=broker.port, password=bad.__getitem__, devices=ids, speed=1
        ) as fleet:
            await asyncio.sleep(0.5)
            assert not fleet.devices[ids[0]].connected and fleet.devices[ids[1]].connected
            fleet.devices[ids[0]].killed = True  # stop retrying
            # Device 1 writes on device 0's topic and vice versa: the ACL drops it.
            other = _pick(site)[4]
            await fleet.send_malformed(ids[1], "foreign_topic", other_device=other)
            await fleet.wait_acked()
    finally:
        await asyncio.sleep(0.2)
        got = lis.drain()
        lis.close()
    assert got == []


async def test_anomaly_ground_truth_is_written_when_it_starts(
    broker: Broker, site: Site, tmp_path: Path
) -> None:
    dev = next(d for d in site.devices if d.profile == "gas-detector")
    start = 1_750_000_000.0
    a = make_anomaly("gas_leak", dev.id, start + 60, site.profile_by_id[dev.profile])
    truth = tmp_path / "truth.jsonl"
    lis = Listener(broker.port, f"hub/v1/devices/{dev.id}/telemetry")
    try:
        async with SensorFleet(
            site, port=broker.port, password=broker.passwords, devices=[dev.id],
            speed=1200, start=start, end=start + 2400, anomalies=[a], truth_path=truth,
        ) as fleet:  # fmt: skip
            await asyncio.wait_for(fleet.done.wait(), 10)
            await fleet.wait_acked()
            n = fleet.devices[dev.id].seq
        got = await lis.wait_for(lambda g: sum(len(_flatten(p)) for _, p, _ in g) >= n)
    finally:
        lis.close()
    lines = [json.loads(x) for x in truth.read_text().splitlines()]
    assert {(x["rule_id"], x["severity"]) for x in lines} == set(a.expected)
    assert all(x["device_id"] == dev.id and x["start"] == a.start for x in lines)
    samples = [(m["ts"], m["values"]) for _, p, _ in got for m in _flatten(p)]
    profile = site.profile_by_id[dev.profile]
    fired = {(f.rule_id, f.severity) for f in evaluate(profile, samples)}
    assert set(a.expected) <= fired
