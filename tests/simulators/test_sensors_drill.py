"""Alarm drills planned by hand (`--anomaly KIND:DEVICE:SECONDS`) and the fleet the command line
builds: parsing, checks against the site, device selection. No broker needed."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.config import Site, load_site
from simulators.cli import app
from simulators.sensors import PlannedAnomaly
from simulators.sensors.run import make_fleet, plan_anomalies

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "sites" / "demo-district.yaml"


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site(SITE)


def _first(site: Site, kind: str) -> str:
    return next(d.id for d in site.devices if site.profile_by_id[d.profile].kind == kind)


def test_parse_reads_kind_device_and_seconds() -> None:
    p = PlannedAnomaly.parse("smoke_spike:dev-smoke-0007:2.5")
    assert p == PlannedAnomaly("smoke_spike", "dev-smoke-0007", 2.5)


@pytest.mark.parametrize(
    "spec",
    ["fire:dev-smoke-0007:3", "smoke_spike:dev-smoke-0007", "smoke_spike::3",
     "smoke_spike:dev-smoke-0007:soon", "smoke_spike:dev-smoke-0007:-1",
     "smoke_spike:dev-smoke-0007:nan"],
)  # fmt: skip
def test_parse_rejects_bad_specs(spec: str) -> None:
    with pytest.raises(ValueError, match=r"smoke_spike|SECONDS|KIND"):
        PlannedAnomaly.parse(spec)


def test_planned_anomaly_starts_after_the_fleet_with_the_profiles_truth(site: Site) -> None:
    dev = _first(site, "smoke")
    a = PlannedAnomaly("smoke_spike", dev, 60.0).at(site, 1000.0)
    assert (a.device_id, a.start) == (dev, 1060.0)
    assert a.truth() == [
        {"device_id": dev, "rule_id": "smoke-high", "severity": "critical",
         "start": 1060.0, "anomaly": "smoke_spike"}
    ]  # fmt: skip


def test_planned_anomaly_needs_a_device_that_can_show_it(site: Site) -> None:
    with pytest.raises(ValueError, match="no enabled device"):
        PlannedAnomaly("smoke_spike", "dev-nope-0001", 1.0).at(site, 0.0)
    with pytest.raises(ValueError, match="needs a smoke device"):
        PlannedAnomaly("smoke_spike", _first(site, "gas"), 1.0).at(site, 0.0)


def test_planned_anomalies_replace_the_scripted_day(site: Site) -> None:
    dev = _first(site, "gas")
    planned = [PlannedAnomaly("gas_leak", dev, 5.0)]
    assert [(a.kind, a.device_id) for a in plan_anomalies(site, 0.0, planned)] == [
        ("gas_leak", dev)
    ]
    assert len(plan_anomalies(site, 0.0, None)) > 1  # the scripted day
    assert plan_anomalies(site, 0.0, None, scripted=False) == []


async def test_fleet_runs_the_chosen_devices_and_never_the_skipped(site: Site) -> None:
    smoke, gas = _first(site, "smoke"), _first(site, "gas")
    only = make_fleet(site, "mqtt://127.0.0.1:1", {}, devices=[smoke, gas], skip=[gas])
    assert list(only.devices) == [smoke]
    assert (only.host, only.port) == ("127.0.0.1", 1)
    everyone = make_fleet(site, "mqtt://127.0.0.1:1", {}, skip=[smoke], scripted=False)
    enabled = {d.id for d in site.devices if d.enabled}
    assert set(everyone.devices) == enabled - {smoke}
    drill = [PlannedAnomaly("smoke_spike", smoke, 1.0)]
    with pytest.raises(ValueError, match=f"does not run: {smoke}"):
        make_fleet(site, "mqtt://127.0.0.1:1", {}, planned=drill, skip=[smoke])
    with pytest.raises(ValueError, match="unknown devices: dev-nope"):
        make_fleet(site, "mqtt://127.0.0.1:1", {}, devices=["dev-nope"])


def test_cli_refuses_a_drill_the_site_cannot_show(site: Site, tmp_path: Path) -> None:
    gas = _first(site, "gas")
    pw = tmp_path / "pw.txt"
    pw.write_text(f"{gas}:x\n", encoding="utf-8")
    args = ["--site", str(SITE), "--mqtt", "mqtt://127.0.0.1:1", "--mqtt-passwords", str(pw)]
    out = CliRunner().invoke(app, ["sensors", *args, "--anomaly", f"smoke_spike:{gas}:3"])
    assert out.exit_code == 2
    assert "needs a smoke device" in out.output
