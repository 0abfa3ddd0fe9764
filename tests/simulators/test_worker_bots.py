"""The worker bots against a real hub (SQLite, on a free port): a case goes round the whole loop
by the bots alone, a return request goes to the supervisor and the case to someone else, and
the bots wait out a hub that fails or is not there."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from argon2 import PasswordHasher
from web.web_helpers import SITE_YAML, RunningHub, make_settings, run_hub_with_users

from hub.config import load_site
from hub.store import passwords
from simulators.workers import QUIET, Credentials, WorkerCity

WORKERS_YAML = """\
workers:
  - {username: w1, name: 王网格员, grids: [g1], phone: "13800000001"}
  - {username: w2, name: 李网格员, grids: [g2]}
"""
ACCOUNTS = {"w1": "worker", "w2": "worker", "duty-op": "operator", "duty-sup": "supervisor"}
CREDENTIALS = Credentials(
    workers={"w1": "pw-w1-123456", "w2": "pw-w2-123456"},
    duty={"duty-op": "pw-duty-op-1", "duty-sup": "pw-duty-sup-1"},
)
IN_G1 = [119.98, 31.82]
FAST = dataclasses.replace(
    QUIET,
    speed=2000.0,
    heartbeat_s=0.2,
    poll_s=0.05,
    step_s=0.02,
    handle_s=(10.0, 10.0),
    duty_poll_s=0.05,
    backoff_s=(0.02, 0.1),
)


@pytest.fixture(autouse=True)
def fast_hasher() -> Iterator[None]:
    # The production argon2 parameters cost 0.1 s per hash; the logic is the same.
    passwords.set_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    yield
    passwords.set_hasher(PasswordHasher())


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[RunningHub]:
    settings = make_settings(tmp_path)
    settings.site.write_text(SITE_YAML + WORKERS_YAML, encoding="utf-8")
    async with run_hub_with_users(settings) as h:
        every = {**CREDENTIALS.workers, **CREDENTIALS.duty}
        for name, role in ACCOUNTS.items():
            await h.state.store.users.create(name, role, every[name])
        yield h


def _city(hub: RunningHub, **kw: Any) -> WorkerCity:
    kw.setdefault("behaviour", FAST)
    return WorkerCity(load_site(hub.settings.site), hub.url, CREDENTIALS, seed=1, **kw)


async def _new_case(hub: RunningHub, category: str) -> dict[str, Any]:
    r = await hub.client.post(
        "/api/cases",
        json={"category": category, "title": "测试案件", "position": IN_G1},
        headers=await hub.auth("operator"),
    )
    assert r.status_code == 201, r.text
    case: dict[str, Any] = r.json()
    return case


async def _until(hub: RunningHub, case_id: int, state: str, within: float = 15) -> dict[str, Any]:
    headers = await _headers(hub, "admin")
    async with asyncio.timeout(within):
        while True:
            r = await hub.client.get(f"/api/cases/{case_id}", headers=headers)
            detail: dict[str, Any] = r.json()
            if detail["state"] == state:
                return detail
            await asyncio.sleep(0.05)


def _steps(detail: dict[str, Any]) -> list[tuple[str, str]]:
    return [(t["action"], t["actor"]) for t in detail["timeline"] if t["action"] != "light"]


async def _headers(hub: RunningHub, role: str) -> dict[str, str]:
    # One login per role and hub: the helpers poll.
    cache: dict[str, dict[str, str]] = hub.__dict__.setdefault("_headers", {})
    if role not in cache:
        cache[role] = await hub.auth(role)
    return cache[role]


async def _status(hub: RunningHub, username: str) -> dict[str, Any]:
    r = await hub.client.get("/api/workers", headers=await _headers(hub, "operator"))
    return next(s for s in r.json() if s["username"] == username)


async def _on_call(hub: RunningHub, username: str) -> None:
    # Before any case: a worker not yet on duty would rank after those who are.
    async with asyncio.timeout(10):
        while True:
            if (await _status(hub, username))["state"] == "available":
                return
            await asyncio.sleep(0.05)


async def test_the_bots_take_a_case_round_the_whole_loop(hub: RunningHub) -> None:
    started = datetime.now(UTC) - timedelta(seconds=1)
    async with _city(hub) as city:
        await _on_call(hub, "w1")
        # 乱堆物料 is not dispatched automatically: the duty officer accepts, opens, dispatches.
        case = await _new_case(hub, "11.02")
        assert case["state"] == "reported"
        detail = await _until(hub, case["id"], "evaluated")
        w1 = await _status(hub, "w1")
        assert w1["on_duty"] and w1["state"] in ("available", "busy")
        r = await hub.client.get(
            "/api/workers/w1/track",
            params={"since": started.isoformat()},
            headers=await hub.auth("operator"),
        )
        track = r.json()["points"]
        assert len(track) >= 3  # the walk, not a jump
        # The bot went where the case is (GPS error of a few metres aside).
        assert min(abs(lon - IN_G1[0]) + abs(lat - IN_G1[1]) for _, lon, lat in track) < 3e-4
        assert city.workers[0].handled == 1
        assert city.duty is not None and city.duty.done["evaluate"] == 1
    assert _steps(detail) == [
        ("created", "operator"),
        ("accept", "duty-op"),
        ("open", "duty-op"),
        ("dispatch", "duty-op"),
        ("receive", "w1"),
        ("arrive", "w1"),
        ("feedback", "w1"),
        ("check_pass", "duty-op"),
        ("evaluate", "duty-op"),
    ]
    assert detail["assignee"] == "w1" and 1 <= detail["rating"] <= 5
    photos = [e for e in detail["evidence"] if e["kind"] == "photo"]
    assert len(photos) == 1 and photos[0]["detail"]["by"] == "w1"
    r = await hub.client.get(f"/api/photos/{photos[0]['ref']}", headers=await hub.auth("admin"))
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    img = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (480, 640, 3)
    # Stopping the city ends the shifts.
    assert not (await _status(hub, "w1"))["on_duty"]


async def test_a_returned_case_goes_to_another_worker(hub: RunningHub) -> None:
    # Every worker asks once to give each case back; the supervisor approves every request.
    behaviour = dataclasses.replace(FAST, p_return=1.0)
    async with _city(hub, behaviour=behaviour):
        # 井盖缺失 is dispatched automatically to the grid's worker once they are on call.
        await _on_call(hub, "w1")
        case = await _new_case(hub, "01.01")
        assert (case["state"], case["assignee"]) == ("dispatched", "w1")
        detail = await _until(hub, case["id"], "evaluated", within=20)
    steps = _steps(detail)
    asked = steps.index(("request_return", "w1"))
    assert steps[asked + 1] == ("approve_return", "duty-sup")  # only a supervisor may
    redispatch = [t for t in detail["timeline"] if t["action"] == "dispatch"][1]
    assert redispatch["detail"]["assignee"] == "w2"
    assert ("feedback", "w1") in steps or ("feedback", "w2") in steps


class FlakyTransport(httpx.AsyncBaseTransport):
    """The first ``failures`` requests get a 500 or a dropped connection, then the network."""

    def __init__(self, failures: int) -> None:
        self.left = failures
        self.failed = 0
        self.real = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.left > 0:
            self.left -= 1
            self.failed += 1
            if self.failed % 3 == 0:
                raise httpx.RemoteProtocolError("server closed the connection", request=request)
            if self.failed % 3 == 1:
                raise httpx.ConnectError("connection refused", request=request)
            return httpx.Response(500, json={"title": "Internal Server Error"})
        return await self.real.handle_async_request(request)

    async def aclose(self) -> None:
        await self.real.aclose()


async def test_the_bots_wait_out_a_failing_hub_and_carry_on(hub: RunningHub) -> None:
    flaky = FlakyTransport(failures=40)
    async with _city(hub, transport=flaky) as city:
        await _on_call(hub, "w1")
        case = await _new_case(hub, "11.02")
        detail = await _until(hub, case["id"], "evaluated")
        assert city.running == 3
    assert flaky.failed == 40
    assert ("feedback", "w1") in _steps(detail)


async def test_the_bots_wait_for_a_hub_that_is_not_there(free_port: int, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    settings.site.write_text(SITE_YAML + WORKERS_YAML, encoding="utf-8")
    site = load_site(settings.site)
    city = WorkerCity(site, f"http://127.0.0.1:{free_port}", CREDENTIALS, behaviour=FAST)
    async with city:
        await asyncio.sleep(0.5)
        assert city.running == 3  # two workers and the duty officer, all waiting
    # Stopping did not hang on the last (failed) off-duty heartbeats.
    assert city.running == 0


async def test_a_busy_answer_is_waited_out_and_sent_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """503 with Retry-After (the hub's store busy, the write rolled back): the bot sends the
    same request again after the wait, a few times at most, then reports the error."""
    from simulators.workers import client as bot_client

    seen: list[float] = []
    busy_for = 2

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/auth/token":
            return httpx.Response(200, json={"access_token": "t", "role": "worker"})
        seen.append(time.monotonic())
        if len(seen) <= busy_for:
            return httpx.Response(503, headers={"Retry-After": "1"}, json={"detail": "busy"})
        return httpx.Response(200, json={"ok": True})

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(answer), base_url="http://hub"
    ) as http:
        c = bot_client.HubClient(http, "wg-1", "pw")
        assert await c.call("POST", "/api/workers/me/heartbeat", json={}) == {"ok": True}
        assert len(seen) == 3 and seen[1] - seen[0] >= 0.9

        seen.clear()
        busy_for = 99
        monkeypatch.setattr(bot_client, "BUSY_WAIT_MAX_S", 0.05)
        with pytest.raises(bot_client.ApiError) as err:
            await c.call("POST", "/api/workers/me/heartbeat", json={})
        assert err.value.status == 503 and len(seen) == bot_client.BUSY_RETRIES + 1


async def test_a_worker_leaves_the_case_they_reported_to_its_assignee(
    hub: RunningHub, caplog: pytest.LogCaptureFixture
) -> None:
    """w2 reports a case in w1's grid from the field (随手拍) and the center sends it to w1: it
    stays in w2's list as their report, but it is w1's to take. Only w2's bot runs here, for a
    while: it must leave the case alone (its steps would get 403)."""
    login = {"username": "w2", "password": CREDENTIALS.workers["w2"]}
    r = await hub.client.post("/api/auth/token", data=login)
    w2 = {"Authorization": f"Bearer {r.json()['access_token']}"}
    body = {"category": "11.02", "title": "巡查发现 patrol find", "position": IN_G1}
    r = await hub.client.post("/api/reports", json=body, headers=w2)
    assert r.status_code == 201, r.text
    case = r.json()
    op = await hub.auth("operator")
    for action, extra in (("accept", {}), ("open", {}), ("dispatch", {"assignee": "w1"})):
        r = await hub.client.post(
            f"/api/cases/{case['id']}/actions",
            json={"action": action, "version": case["version"], **extra},
            headers=op,
        )
        assert r.status_code == 200, r.text
        case = r.json()
    r = await hub.client.get("/api/cases", params={"state": "dispatched"}, headers=w2)
    assert case["id"] in [c["id"] for c in r.json()["items"]]  # w2 sees it
    only_w2 = Credentials(workers={"w2": CREDENTIALS.workers["w2"]}, duty={})
    city = WorkerCity(load_site(hub.settings.site), hub.url, only_w2, seed=1, behaviour=FAST)
    with caplog.at_level(logging.WARNING, logger="simulators.workers"):
        async with city:
            await asyncio.sleep(1.5)  # many rounds at FAST's poll
    failed = [r.getMessage() for r in caplog.records if r.getMessage().startswith("work failed")]
    assert failed == []
    detail = await _until(hub, case["id"], "dispatched")
    assert detail["assignee"] == "w1"
    assert not any(actor == "w2" for _, actor in _steps(detail)[1:])  # but the report


async def test_a_bot_answers_a_call_and_both_sides_get_video_and_sound(hub: RunningHub) -> None:
    from simulators.calls.media import CardTrack, ToneTrack
    from simulators.calls.participant import Participant

    async with _city(hub, behaviour=dataclasses.replace(FAST, call_poll_s=0.2)) as city:
        op_h = await hub.auth("operator")
        r = await hub.client.post("/api/calls", json={"invite": ["w1"]}, headers=op_h)
        assert r.status_code == 201, r.text
        call = r.json()
        op = Participant(hub.client, await hub.login("operator", "operator-pass-1"), "operator")
        try:
            await op.join(call["id"])
            await op.publish(CardTrack(label=3), ToneTrack(523))
            bot = next(b for b in city.workers if b.username == "w1")
            async with asyncio.timeout(30):
                while bot.calls.stats.media_ok < 1 or not any(
                    g.video_frames >= 15 and g.audio_peak > 0.05 for g in op.received.values()
                ):
                    await op.subscribe_all()
                    await asyncio.sleep(0.2)
            assert bot.calls.stats.answered == 1
            r = await hub.client.post(f"/api/calls/{call['id']}/end", headers=op_h)
            assert r.status_code == 200
            async with asyncio.timeout(10):
                while bot.calls.current is not None:  # noqa: ASYNC110 (a bot's state: polled)
                    await asyncio.sleep(0.1)
        finally:
            await op.close_media()
