"""/metrics serves the rule engine's, alarms' and presence's metrics of a running hub."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

from web_helpers import SITE_YAML, make_settings, run_hub_with_users

from hub.bus.contracts import DEVICE_TELEMETRY, DeviceTelemetry, DeviceTelemetryBatch

DEVICES_YAML = """\
device_profiles:
  - id: gauge
    name: 水位计
    telemetry:
      - {key: level, unit: m, min: 0, max: 10}
    alarm_rules:
      - id: level-high
        name: 水位过高
        key: level
        create: {critical: {op: ">=", value: 8}}
devices:
  - {id: wl-001, name: 河海桥水位, profile: gauge, grid: g1, position: [119.9505, 31.85]}
"""


async def test_metrics_route_exposes_rule_and_alarm_metrics(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    settings.site.write_text(SITE_YAML + DEVICES_YAML, encoding="utf-8")
    async with run_hub_with_users(settings) as h:
        headers = await h.auth("operator")
        await h.bus.publish(
            DEVICE_TELEMETRY,
            DeviceTelemetryBatch(
                readings=[
                    DeviceTelemetry(device_id="wl-001", ts=time.time(), values={"level": 9.0})
                ]
            ),
        )
        async with asyncio.timeout(5):
            while True:
                r = await h.client.get("/metrics", headers=headers)
                assert r.status_code == 200
                m = re.search(r'^hub_alarms_active\{severity="critical"\} (\S+)$', r.text, re.M)
                if m and float(m.group(1)) == 1.0:
                    break
                await asyncio.sleep(0.02)
        text = r.text
        for name in (
            "hub_rules_evaluations_total",
            'hub_alarms_raised_total{severity="critical"}',
            "hub_alarms_cleared_total",
            "hub_rule_state_flush_seconds_bucket",
            "hub_rule_state_flush_failures_total",
            "hub_rules_expire_seconds_bucket",
            "hub_rules_missing_fired_total",
            'hub_device_presence{state="online"}',
        ):
            assert name in text, name
