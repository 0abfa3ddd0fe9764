"""The browser end-to-end rig: the simulated city, the hub on it, and Debian's Chromium.

One city and one hub for the whole session (starting them costs seconds; the simulator's encoded
scene loops are cached under var/sim-cache so only the first run ever encodes). Every process runs
on free ports with a temporary data dir and is stopped at the end. Logs and screenshots go to
test-artifacts/e2e/.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from e2e_page import CHROMIUM, CHROMIUM_ARGS

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "e2e"
UI_DIST = REPO / "hub" / "web" / "ui" / "dist"
SITE = REPO / "sites" / "demo-district.yaml"
USERNAME = "zhiban01"
PASSWORD = "e2e-Passw0rd!"
SIM_START_S = 420.0  # a cold cache encodes four 60 s 720p loops on two shared cores
HUB_START_S = 90.0


@dataclass
class Hub:
    url: str
    port: int
    rtsp_port: int
    data_dir: Path
    truth: Path
    site: Path
    mqtt_port: int = 0
    # A smoke detector a camera sees, left out of the city's sensor fleet so that a drill can
    # drive it alone (one MQTT client per device id: two would keep taking each other over).
    drill_device: str = ""
    username: str = USERNAME
    password: str = PASSWORD

    def truth_events(self) -> list[dict[str, Any]]:
        if not self.truth.exists():
            return []
        out = []
        for line in self.truth.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line being written right now
        return out


def _drill_device(site: Path) -> str:
    from hub.config import load_site
    from hub.geo.coverage import cameras_for

    s = load_site(site)
    for d in s.devices:
        kind = s.profile_by_id[d.profile].kind
        if kind == "smoke" and d.enabled and d.position and cameras_for(d.position, s.cameras):
            return d.id
    raise AssertionError("the demo site has a smoke detector that a camera sees")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    # Each child runs in its own session: signal its group so helpers it started stop with it.
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def _tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def _wait(what: str, ok: Any, timeout: float, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode}:\n{_tail(log)}")
        if ok():
            return
        time.sleep(0.5)
    pytest.fail(f"{what} not ready after {timeout:.0f} s:\n{_tail(log)}")


def _health(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/health", timeout=2) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="session")
def hub_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    if not (UI_DIST / "index.html").is_file():
        pytest.fail("the wall UI is not built: run `make ui` (npm ci && npm run build)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path_factory.mktemp("e2e")
    rtsp_port, http_port, mqtt_port = _free_port(), _free_port(), _free_port()
    # The demo site points every camera at 127.0.0.1:8554; ours listens elsewhere.
    site = tmp / "site.yaml"
    site.write_text(
        SITE.read_text(encoding="utf-8").replace("127.0.0.1:8554/", f"127.0.0.1:{rtsp_port}/"),
        encoding="utf-8",
    )
    truth = tmp / "truth.jsonl"
    data = tmp / "data"
    drill = _drill_device(site)
    env = {
        **os.environ,
        "HUB_DATA_DIR": str(data),
        "HUB_LOG_JSON": "true",
        "HUB_MQTT_URL": "",
        "HUB_MQTT_EMBEDDED_PORT": str(mqtt_port),
    }
    py = sys.executable
    procs: list[subprocess.Popen[bytes]] = []
    sim_log, hub_log = ARTIFACTS / "simulator.log", ARTIFACTS / "hub.log"
    try:
        subprocess.run(
            [py, "-m", "hub", "users", "add", USERNAME, "--role", "operator",
             "--password", PASSWORD],
            cwd=REPO, env=env, check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        url = f"http://127.0.0.1:{http_port}"
        with hub_log.open("wb") as out:
            server = subprocess.Popen(
                [py, "-m", "hub", "serve", "--site", str(site), "--port", str(http_port)],
                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        procs.append(server)
        _wait("hub", lambda: _health(url), HUB_START_S, server, hub_log)

        # After the hub, as in `hub demo`: the hub creates the sensors' broker accounts that the
        # city's sensor fleet logs in with. The cameras reconnect once the RTSP server is up.
        creds = data / "device-credentials.txt"
        _wait("device credentials", creds.is_file, HUB_START_S, server, hub_log)
        with sim_log.open("wb") as out:
            sim = subprocess.Popen(
                [py, "-m", "simulators", "city", "--site", str(site),
                 "--rtsp-port", str(rtsp_port), "--truth", str(truth),
                 "--mqtt", f"mqtt://127.0.0.1:{mqtt_port}", "--mqtt-passwords", str(creds),
                 "--sensor-truth", str(tmp / "sensor-truth.jsonl"), "--skip-sensor", drill],
                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        procs.append(sim)
        _wait("simulator", lambda: _port_open(rtsp_port), SIM_START_S, sim, sim_log)
        yield Hub(url, http_port, rtsp_port, data, truth, site, mqtt_port, drill)
    finally:
        for p in reversed(procs):
            _stop(p)


@dataclass
class SensorDrill:
    """`python -m simulators sensors` for the drill device against the hub's broker, as an operator
    rehearsing an alarm would run it; its anomaly ground truth goes to `truth`."""

    hub: Hub
    truth: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self, *anomalies: str, speed: float = 1.0) -> None:
        creds = self.hub.data_dir / "device-credentials.txt"
        args = [a for spec in anomalies for a in ("--anomaly", spec)]
        with (ARTIFACTS / "drill.log").open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "simulators", "sensors", "--site", str(self.hub.site),
                 "--mqtt", f"mqtt://127.0.0.1:{self.hub.mqtt_port}", "--mqtt-passwords",
                 str(creds), "--device", self.hub.drill_device, "--speed", str(speed),
                 "--truth", str(self.truth), *args],
                cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def truth_lines(self) -> list[dict[str, Any]]:
        if not self.truth.exists():
            return []
        lines = self.truth.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.endswith("}")]

    def log(self) -> str:
        return _tail(ARTIFACTS / "drill.log")


@pytest.fixture
def sensor_drill(hub_server: Hub, tmp_path: Path) -> Iterator[SensorDrill]:
    drill = SensorDrill(hub_server, tmp_path / "drill-truth.jsonl")
    try:
        yield drill
    finally:
        if drill.proc is not None:
            _stop(drill.proc)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make system-deps`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any, hub_server: Hub, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context (empty session and local storage) at 1920x1080."""
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    # The hub serves a strict Content-Security-Policy: anything the UI does that it blocks is a
    # bug of the UI (or an injection), and Chromium reports it on the console.
    pg.on(
        "console",
        lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    pg.set_default_timeout(15_000)
    try:
        yield pg
    finally:
        name = request.node.name.replace("/", "_")
        with contextlib.suppress(Exception):  # the page may already be gone after a failure
            pg.screenshot(path=str(ARTIFACTS / f"{name}.png"))
        context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


@pytest.fixture
def wall(page: Any, hub_server: Hub) -> Any:
    """The page after logging in: the wall with its tree and events loaded."""
    page.goto(hub_server.url + "/")
    page.fill("#login-username", hub_server.username)
    page.fill("#login-password", hub_server.password)
    page.click("#login-submit")
    page.wait_for_selector("#wall .tile")
    page.wait_for_selector("li.cam")  # site and cameras loaded, wall filled
    return page
