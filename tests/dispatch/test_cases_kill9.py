"""`kill -9` of the hub during a stream of case transitions loses no acknowledged one: every step
the API answered 200 is in the case's timeline after a restart, and the timelines are whole."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
SITE = """\
site: {name: 测试区}
district:
  id: d1
  name: 新北区
  streets:
    - id: s1
      name: 三井街道
      communities:
        - id: c1
          name: 河海社区
          grids:
            - id: g1
              name: 第一网格
              geometry:
                type: Polygon
                coordinates:
                  [[[119.9, 31.8], [120.0, 31.8], [120.0, 31.9], [119.9, 31.9], [119.9, 31.8]]]
"""
LOOP = ["accept", "open", "dispatch", "receive", "arrive", "feedback", "check_pass", "evaluate"]
WORKER_STEPS = {"receive", "arrive", "feedback"}
KILL_AFTER = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Hub:
    def __init__(self, tmp: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.site = tmp / "site.yaml"
        self.site.write_text(SITE, encoding="utf-8")
        self.log = tmp / "hub.log"
        self.env = {
            **os.environ,
            "HUB_DATA_DIR": str(tmp / "data"),
            "HUB_MQTT_INGEST": "false",
            "HUB_LOG_JSON": "true",
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "hub", *args], cwd=REPO, env=self.env, check=True,
            capture_output=True, timeout=60,
        )  # fmt: skip

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hub", "serve", "--site", str(self.site),
                 "--port", str(self.port)],
                cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text(errors="replace")[-3000:]
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("hub did not start")

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(15)


async def _token(c: httpx.AsyncClient, user: str, pw: str) -> dict[str, str]:
    r = await c.post("/api/auth/token", data={"username": user, "password": pw})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _drive(
    c: httpx.AsyncClient, op: dict[str, str], wk: dict[str, str], case: dict[str, Any],
    acked: list[tuple[int, str, int]], enough: asyncio.Event,
) -> None:  # fmt: skip
    version = case["version"]
    for action in LOOP:
        body: dict[str, Any] = {"action": action, "version": version}
        if action == "dispatch":
            body["assignee"] = "wang"
        if action == "evaluate":
            body["rating"] = 4
        try:
            r = await c.post(
                f"/api/cases/{case['id']}/actions",
                json=body,
                headers=wk if action in WORKER_STEPS else op,
            )
        except httpx.HTTPError:
            return  # the hub died: this step was never acknowledged
        if r.status_code != 200:
            return
        version = r.json()["version"]
        acked.append((case["id"], action, version))
        if len(acked) >= KILL_AFTER:
            enough.set()


async def test_kill_9_loses_no_acknowledged_transition(tmp_path: Path) -> None:
    hub = Hub(tmp_path)
    hub.cli("users", "add", "op", "--role", "operator", "--password", "operator-pass-1")
    hub.cli("users", "add", "wang", "--role", "worker", "--password", "worker-pass-1")
    hub.start()
    acked: list[tuple[int, str, int]] = []
    try:
        async with httpx.AsyncClient(base_url=hub.url, timeout=10) as c:
            op = await _token(c, "op", "operator-pass-1")
            wk = await _token(c, "wang", "worker-pass-1")
            cases = []
            for i in range(40):
                r = await c.post(
                    "/api/cases",
                    json={"category": "02.01", "title": f"道路破损 {i}", "grid_id": "g1"},
                    headers=op,
                )
                assert r.status_code == 201, r.text
                cases.append(r.json())
            enough = asyncio.Event()
            drivers = [asyncio.create_task(_drive(c, op, wk, k, acked, enough)) for k in cases]
            # Kill while the stream runs: after some steps, well before all of them.
            await asyncio.wait_for(enough.wait(), 60)
            await asyncio.to_thread(hub.kill9)
            await asyncio.gather(*drivers)
        assert KILL_AFTER <= len(acked) < len(cases) * len(LOOP)
        hub.start()
        async with httpx.AsyncClient(base_url=hub.url, timeout=10) as c:
            op = await _token(c, "op", "operator-pass-1")
            for case in cases:
                detail = (await c.get(f"/api/cases/{case['id']}", headers=op)).json()
                steps = {(t["action"], t["version"]) for t in detail["timeline"]}
                for cid, action, version in acked:
                    if cid == case["id"]:
                        assert (action, version) in steps, (cid, action, version)
                versions = [t["version"] for t in detail["timeline"]]
                assert versions == list(range(1, detail["version"] + 1))
    finally:
        hub.stop()
