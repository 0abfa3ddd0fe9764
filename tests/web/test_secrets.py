"""Secrets stay secret: camera passwords and local file paths never appear in an API response, a
WebSocket message or a log line, whatever PyAV's error says; the data directory and database
files are private to the hub's user."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from web_helpers import PASSWORDS, SITE_YAML, FakeVideo, serve
from websockets.asyncio.client import connect

from hub.app import create_app
from hub.config import Settings
from hub.redact import redact_text, redact_url, source_text

PASSWORD = "S3cret-Cam-Pw"
XMEYE_PASSWORD = "Xm3ye-Pw-9"
HIDDEN_DIR = "private-recordings-7f3a"


def _site(tmp: Path, rtsp_port: int) -> str:
    missing = tmp / HIDDEN_DIR / "gate.mp4"
    cams = f"""\
  - id: cam-pw
    name: 密码摄像机
    url: rtsp://admin:{PASSWORD}@127.0.0.1:{rtsp_port}/Streaming/Channels/101
    grid: g1
    position: [119.95, 31.85]
  - id: cam-xm
    name: 参数摄像机
    url: rtsp://127.0.0.1:{rtsp_port}/user=admin&password={XMEYE_PASSWORD}&channel=1&stream=0.sdp
    grid: g1
    position: [119.95, 31.85]
  - id: cam-file
    name: 文件摄像机
    url: file://{missing}
    grid: g2
    position: [120.05, 31.85]
"""
    head = SITE_YAML.split("cameras:\n")[0]
    return head + "cameras:\n" + cams


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def _hub_with_real_cameras(tmp: Path) -> AsyncIterator[tuple[str, Settings]]:
    site = tmp / "site.yaml"
    site.write_text(_site(tmp, _closed_port()), encoding="utf-8")
    settings = Settings(
        site=site,
        data_dir=tmp / "data",
        mqtt_ingest=False,
        reconnect_min_seconds=0.2,
        reconnect_max_seconds=0.5,
    )
    app = create_app(settings)  # the real video service, on cameras that fail
    async with serve(app, settings) as url:
        await app.state.hub.store.users.create("operator", "operator", PASSWORDS["operator"])
        yield url, settings


def _leaks(text: str, tmp: Path) -> list[str]:
    # The hub's own data directory may be named in logs; a camera's folder may not.
    return [s for s in (PASSWORD, XMEYE_PASSWORD, HIDDEN_DIR) if s in text]


async def test_camera_errors_never_carry_credentials_or_paths(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with (
        _hub_with_real_cameras(tmp_path) as (url, _settings),
        httpx.AsyncClient(base_url=url) as client,
    ):
        r = await client.post(
            "/api/auth/token", data={"username": "operator", "password": PASSWORDS["operator"]}
        )
        auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
        errors: dict[str, str] = {}
        for _ in range(100):
            cams = (await client.get("/api/cameras", headers=auth)).json()
            errors = {c["id"]: c["health"]["last_error"] for c in cams}
            if all(errors.values()):
                break
            await asyncio.sleep(0.1)
        assert all(errors.values()), errors
        texts = [(await client.get("/api/cameras", headers=auth)).text]
        for cam in ("cam-pw", "cam-xm", "cam-file"):
            texts.append((await client.get(f"/api/cameras/{cam}", headers=auth)).text)
        ws_url = url.replace("http://", "ws://") + "/api/ws?access_token="
        async with connect(ws_url + r.json()["access_token"]) as ws:
            for _ in range(3):
                texts.append(str(await asyncio.wait_for(ws.recv(), 5)))
    # The errors still say what happened, and which file.
    assert "gate.mp4" in errors["cam-file"]
    assert "***" in errors["cam-pw"] or "refused" in errors["cam-pw"].lower()
    for text in texts:
        assert not _leaks(text, tmp_path), text
    assert any("last_error" in t and "health" in t for t in texts[4:])
    log_text = caplog.text + "\n".join(
        logging.Formatter().format(rec) if rec.exc_info else rec.getMessage()
        for rec in caplog.records
    )
    assert "cam-pw" in log_text  # the cameras did log their failures
    assert not _leaks(log_text, tmp_path), [
        line for line in log_text.splitlines() if _leaks(line, tmp_path)
    ][:5]


async def test_data_dir_and_database_are_private(tmp_path: Path) -> None:
    async with _hub_with_real_cameras(tmp_path) as (_url, settings):
        data = settings.data_dir
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        files = [data / "hub.db", data / "hub.db-wal", data / "hub.db-shm", data / "jwt.secret"]
        for f in files:
            assert f.exists(), f
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f


async def test_existing_world_readable_files_are_closed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    for name in ("hub.db", "hub.db-wal"):
        (data / name).touch()
        os.chmod(data / name, 0o644)
    (data / "hub.db").unlink()  # an empty file is a valid new database; keep the WAL stale
    (data / "hub.db").touch()
    os.chmod(data / "hub.db", 0o644)
    async with _hub_with_real_cameras(tmp_path) as (_url, settings):
        assert stat.S_IMODE(settings.data_dir.stat().st_mode) == 0o700
        for name in ("hub.db", "hub.db-wal", "hub.db-shm"):
            assert stat.S_IMODE((settings.data_dir / name).stat().st_mode) == 0o600, name


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("rtsp://admin:pw1@10.0.0.1/s failed", "pw1"),
        ("Connection refused: 'rtsp://u:p%40ss@host:554/x'", "p%40ss"),
        ("mqtt://hub:brokerpw@10.1.1.1:1883 down", "brokerpw"),
        ("GET /api/ws?access_token=eyJabc.def HTTP/1.1", "eyJabc"),
        ("rtsp://10.0.0.2/user=admin&password=xyz123&channel=1", "xyz123"),
        ("http://h/x?token=abc&pwd=def", "def"),
        ("postgresql+asyncpg://hub:dbpw@db/hub", "dbpw"),
    ],
)
def test_redact_text(text: str, leak: str) -> None:
    assert leak not in redact_text(text)


def test_redact_url_and_source_text() -> None:
    assert redact_url("rtsp://admin:pw@10.0.0.1:554/s?x=1") == "rtsp://***@10.0.0.1:554/s?x=1"
    assert redact_url("rtsp://10.0.0.1/s") == "rtsp://10.0.0.1/s"
    # The password alone, in whatever form an error quotes it.
    msg = source_text("auth failed for admin / pw-123", "rtsp://admin:pw-123@h/s")
    assert "pw-123" not in msg
    assert source_text("No such file: '/srv/cams/a.mp4'", "file:///srv/cams/a.mp4") == (
        "No such file: 'a.mp4'"
    )
    assert source_text("No such file: '/srv/cams/a.mp4'", "/srv/cams/a.mp4") == (
        "No such file: 'a.mp4'"
    )


async def test_external_broker_password_stays_out_of_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """HUB_MQTT_URL may carry the hub's broker password; a broker that cannot be reached makes
    the hub log the URL over and over, never with the password."""
    caplog.set_level(logging.DEBUG)
    site = tmp_path / "site.yaml"
    site.write_text(SITE_YAML, encoding="utf-8")
    broker_pw = "Br0ker-Secret-Pw"
    settings = Settings(
        site=site,
        data_dir=tmp_path / "data",
        mqtt_url=f"mqtt://hub:{broker_pw}@127.0.0.1:{_closed_port()}",
    )
    app = create_app(settings, video=FakeVideo(["cam-a", "cam-b"]))
    async with serve(app, settings):
        await asyncio.sleep(1.5)  # a few failed connection attempts
    assert "MQTT connection" in caplog.text
    assert broker_pw not in caplog.text
    assert all(broker_pw not in repr(r.__dict__) for r in caplog.records)
    assert broker_pw not in repr(settings)
