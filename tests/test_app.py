"""The app factory: lifespan ownership and order, the UI files, time zone, startup errors."""

from __future__ import annotations

import sys
import types
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from hub.app import create_app
from hub.bus.contracts import CameraHealth
from hub.bus.factory import open_bus
from hub.bus.memory import MemoryBus
from hub.config import Settings, Site
from hub.errors import SiteFileError

SITE = """\
site:
  name: Mini
{tz}district:
  id: d
  name: 区
  streets:
    - id: s
      name: 街道
      communities:
        - id: c
          name: 社区
          grids:
            - id: g
              name: 网格
              geometry:
                type: Polygon
                coordinates: [[[0, 0], [1, 0], [1, 1], [0, 0]]]
cameras:
  - id: cam-1
    name: 一号
    url: rtsp://10.0.0.9/s
    grid: g
    position: [0.5, 0.5]
"""


class StubVideo:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def start(self) -> None:
        self.log.append("video.start")

    async def stop(self) -> None:
        self.log.append("video.stop")

    def health(self) -> list[CameraHealth]:
        return [CameraHealth(camera_id="cam-1", state="connecting")]

    def subscribe_live(self, camera_id: str) -> object:
        raise NotImplementedError


def settings(tmp_path: Path, tz: str = "", **kw: object) -> Settings:
    site = tmp_path / "site.yaml"
    site.write_text(SITE.format(tz=f"  timezone: {tz}\n" if tz else ""), encoding="utf-8")
    kw.setdefault("mqtt_ingest", False)  # no embedded broker in these tests
    return Settings(site=site, data_dir=tmp_path / "data", **kw)  # type: ignore[arg-type]


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            yield client


async def test_given_services_belong_to_the_caller(tmp_path: Path) -> None:
    log: list[str] = []
    bus = MemoryBus()
    app = create_app(settings(tmp_path), video=StubVideo(log), bus=bus)  # type: ignore[arg-type]
    async with running(app) as client:
        assert (await client.get("/api/health")).status_code == 200
        assert app.state.hub.bus is bus
    assert log == []  # neither started nor stopped by the app


async def test_created_video_service_is_started_and_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log: list[str] = []
    made: list[tuple[Settings, Site, object]] = []

    def factory(s: Settings, site: Site, bus: object) -> StubVideo:
        made.append((s, site, bus))
        return StubVideo(log)

    module = types.ModuleType("hub.video.service")
    module.CameraService = factory  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "hub.video.service", module)
    s = settings(tmp_path)
    app = create_app(s)
    async with running(app):
        assert log == ["video.start"]
        assert made[0][0] is s and made[0][1].site.name == "Mini"
        # The bus the settings name (`make test-redis` runs the suite with HUB_BUS=redis).
        assert type(made[0][2]) is type(open_bus(Settings()))
    assert log == ["video.start", "video.stop"]


@pytest.mark.parametrize(
    ("site_tz", "env_tz", "expected"),
    [("", "Asia/Urumqi", "Asia/Urumqi"), ("Asia/Harbin", "Asia/Urumqi", "Asia/Harbin")],
)
async def test_timezone(tmp_path: Path, site_tz: str, env_tz: str, expected: str) -> None:
    app = create_app(settings(tmp_path, site_tz, timezone=env_tz), video=StubVideo([]))  # type: ignore[arg-type]
    async with running(app):
        assert app.state.hub.timezone == expected


async def test_bad_site_file_fails_startup(tmp_path: Path) -> None:
    s = settings(tmp_path)
    s.site.write_text("site: {name: x}\ndistrict: {id: d, name: n}\nbogus: 1\n", encoding="utf-8")
    app = create_app(s, video=StubVideo([]))  # type: ignore[arg-type]
    with pytest.raises(SiteFileError, match="bogus"):
        async with running(app):
            pass


async def test_ui_files(tmp_path: Path) -> None:
    ui = tmp_path / "dist"
    (ui / "assets").mkdir(parents=True)
    (ui / "index.html").write_text("<!doctype html><title>wall</title>", encoding="utf-8")
    (ui / "m").mkdir()
    (ui / "m" / "index.html").write_text("<!doctype html><title>field</title>", encoding="utf-8")
    (ui / "assets" / "app-1a2b.js").write_text("console.log(1)", encoding="utf-8")
    (ui / "favicon.svg").write_text("<svg/>", encoding="utf-8")
    (tmp_path / "outside.txt").write_text("private", encoding="utf-8")
    app = create_app(settings(tmp_path), video=StubVideo([]), ui_dir=ui)  # type: ignore[arg-type]
    async with running(app) as client:
        r = await client.get("/")
        assert r.status_code == 200 and "<title>wall</title>" in r.text
        assert r.headers["cache-control"] == "no-cache"
        r = await client.get("/assets/app-1a2b.js")
        assert r.status_code == 200 and "immutable" in r.headers["cache-control"]
        assert (await client.get("/favicon.svg")).text == "<svg/>"
        assert "<title>wall</title>" in (await client.get("/wall/focus")).text  # SPA route
        # The field app is the other page of the build, with its own client-side routes.
        for path in ("/m", "/m/", "/m/task/12"):
            assert "<title>field</title>" in (await client.get(path)).text, path
        assert "<title>wall</title>" in (await client.get("/mobile")).text
        for path in (
            "/assets/missing.js",
            "/missing.png",
            "/assets/%2e%2e/%2e%2e/outside.txt",
            "/%2e%2e/outside.txt",
        ):
            r = await client.get(path)
            assert r.status_code == 404, path
            assert "private" not in r.text
        r = await client.get("/api/nothing")
        assert r.status_code == 404
        assert r.headers["content-type"] == "application/problem+json"


async def test_ui_not_built(tmp_path: Path) -> None:
    app = create_app(
        settings(tmp_path),
        video=StubVideo([]),
        ui_dir=tmp_path / "nope",  # type: ignore[arg-type]
    )
    async with running(app) as client:
        r = await client.get("/")
        assert r.status_code == 503
        assert "make ui" in r.text and r.headers["content-type"].startswith("text/html")


async def test_camera_outside_its_grid_is_named_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    s = settings(tmp_path)
    # The grid is the triangle below the diagonal; (0.1, 0.9) lies above it.
    s.site.write_text(
        s.site.read_text(encoding="utf-8").replace("[0.5, 0.5]", "[0.1, 0.9]"), encoding="utf-8"
    )
    app = create_app(s, video=StubVideo([]))  # type: ignore[arg-type]
    async with running(app):
        assert app.state.hub.grids.locate([0.9, 0.1]).grid_id == "g"
    assert "outside their declared grid: cam-1" in caplog.text
