"""Case loop: throughput, API latency and the case list, on SQLite and on PostgreSQL.

1. Throughput. New cases arrive at ``--rate`` per minute for ``--seconds``. ``--video-share``
   of them are recorded detections published on the hub's bus (``RecordedEvent`` on
   ``events.recorded``, each at a place of its own; intrusions, which the system accepts and
   opens, alternate with line crossings, which the operator accepts and opens); ``--fuse`` of
   those are followed one step later by a second detection at the same place, which joins the
   running case as evidence. The rest are entered with POST /api/cases. Every case is then taken
   through the loop over HTTP by the role owning each step, ``--think`` seconds apart: the
   operator accepts, opens and dispatches (to one of ``--workers`` workers), the worker opens the
   case and receives and answers it (feedback), the supervisor checks it (check_pass) and
   evaluates it. A wall client on /api/ws reads every message. The loop keeps up when every
   offered case is created and evaluated, the wall has every case message, and the time from
   offer to evaluation does not grow during the run (no backlog building up).
2. Latency of the case API calls during that load, p50/p95/p99 (target p99 < 100 ms). Baseline
   in the same run, under the same load: GET /api/health (no auth, no database), polled 20 times
   a second, so the ratio shows what the case work adds to the server's own queueing.
3. The case list with ``--open-cases`` running cases, written straight into the case tables
   on the hub's engine (multi-row statements, not HTTP): GET /api/cases with the filters an
   operator uses (state=open, grid_id, light=red, category, paging with before_id), and a
   worker's own list, one request at a time, interleaved with GET /api/health as the baseline.

The hub runs in this process under the real server configuration (``serve`` from
tests/web/web_helpers.py) with the in-memory bus and a stand-in video service; the clients run
in a second process, so their CPU is not the hub's. PostgreSQL is a private cluster on this
machine (tests/pg_cluster.py: fsync off, as for the tests), one database per run.

    .venv/bin/python bench/bench_cases.py [--store sqlite|postgresql|both] [--rate 1000]
        [--seconds 30] [--open-cases 10000] [--think 0.5] [--workers 10] [--list-rounds 40]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing
import random
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
import websockets
from argon2 import PasswordHasher
from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url

from hub.app import create_app
from hub.bus.contracts import EVENTS_RECORDED, RecordedEvent
from hub.bus.memory import MemoryBus
from hub.config import (
    Camera,
    Community,
    District,
    GeoPolygon,
    Grid,
    Settings,
    Site,
    SiteInfo,
    Street,
)
from hub.dispatch.limits import case_light
from hub.dispatch.service import CaseService
from hub.dispatch.workflow import OPEN_STATES, STAGE_OF
from hub.ids import new_id
from hub.store import passwords
from hub.store.models import CaseRow, CaseTimelineRow

TESTS = Path(__file__).resolve().parents[1] / "tests"
PASSWORD = "bench-pass-1"
GRID_DEG = 0.01
"""Grids are squares of 0.01 degrees (about 950 x 1,110 m), 4 across and 3 down."""
PLACE_DEG = 0.001
"""Detection places lie 0.001 degrees apart (95-111 m), beyond every fusion radius (30 m)."""
GRID_COLS, GRID_ROWS = 4, 3
PLACES_PER_GRID = 100
POST_CATEGORIES = ("02.01", "11.02", "12.01", "13.01", "16.01")
"""Operator entries: categories without automatic dispatch (the operator accepts and opens)."""
MANUAL = ("accept", "open", "dispatch", "receive", "feedback", "check_pass", "evaluate")
AUTO = MANUAL[2:]
"""Intrusions (17.01) are accepted and opened by the system: the operator dispatches (unless
the system did, to the grid's own worker named in the site file: the bench's site names none)."""
AFTER = dict(zip(MANUAL, ("accepted", "opened", "dispatched", "received", "handled", "closed",
                          "evaluated"), strict=True))  # fmt: skip
STATES = ("reported", "accepted", "opened", "dispatched", "received", "on_scene", "handled",
          "closed", "evaluated")  # fmt: skip
WORKER_STEPS = frozenset({"receive", "feedback"})
SUPERVISOR_STEPS = frozenset({"check_pass", "evaluate"})
CASE_MESSAGES = 8
"""Wall messages per case: created, accept, open, dispatch, receive, feedback, check_pass,
evaluate (besides one ``evidence`` per fused detection)."""
HEALTH = "GET /api/health (baseline)"
HEALTH_EVERY = 0.05
LIST_EVERY = 1.0
PREFILL_BATCH = 500
DRAIN_S = 30.0
"""How long after the offer stops the loop may take to finish its cases (it takes about one
case's loop time when it keeps up)."""


def _tests_on_path() -> None:
    """The helpers under tests/ (the real server in-process, the private PostgreSQL)."""
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))


def percentile(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


# -- the site and the plan ---------------------------------------------------------------------


def grid_origin(k: int) -> tuple[float, float]:
    return 120.0 + GRID_DEG * (k % GRID_COLS), 31.8 + GRID_DEG * (k // GRID_COLS)


def place(p: int) -> tuple[str, tuple[float, float]]:
    """Grid id and position of detection place ``p`` (spread over the grids in turn)."""
    k = p % (GRID_COLS * GRID_ROWS)
    slot = p // (GRID_COLS * GRID_ROWS)
    lon0, lat0 = grid_origin(k)
    lon = lon0 + PLACE_DEG * (0.5 + slot % 10)
    lat = lat0 + PLACE_DEG * (0.5 + slot // 10)
    return f"g{k:02d}", (round(lon, 6), round(lat, 6))


def bench_site(n_places: int) -> Site:
    """12 grids in 2 streets x 2 communities, one camera per detection place."""
    streets = []
    for s in range(2):
        communities = []
        for c in range(2):
            grids = []
            for g in range(3):
                k = (s * 2 + c) * 3 + g
                lon0, lat0 = grid_origin(k)
                lon1, lat1 = lon0 + GRID_DEG, lat0 + GRID_DEG
                ring = [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]
                geo = GeoPolygon(coordinates=[ring])
                grids.append(Grid(id=f"g{k:02d}", name=f"网格 {k}", geometry=geo))
            communities.append(Community(id=f"c{s}{c}", name=f"社区 {s}{c}", grids=grids))
        streets.append(Street(id=f"s{s}", name=f"街道 {s}", communities=communities))
    cameras = []
    for p in range(n_places):
        grid, pos = place(p)
        cameras.append(
            Camera(id=f"cam-{p:04d}", name=f"路口 {p}", url="rtsp://x/1", grid=grid, position=pos)
        )
    return Site(
        site=SiteInfo(name="bench", timezone="Asia/Shanghai"),
        district=District(id="d", name="新北区", streets=streets),
        cameras=cameras,
    )


@dataclass(frozen=True)
class Offer:
    """One new case: entered by POST at ``t`` seconds, or a detection published at ``t`` (and,
    with ``fuse_id``, a second one at the same place one step later)."""

    t: float
    kind: str  # "post" | "video"
    category: str | None = None
    grid_id: str | None = None
    det_type: str | None = None
    camera_id: str | None = None
    event_id: str | None = None
    fuse_id: str | None = None


@dataclass(frozen=True)
class Plan:
    offers: list[Offer]
    seconds: float
    think: float
    workers: list[str]
    auto_categories: frozenset[str]

    @property
    def video(self) -> int:
        return sum(o.kind == "video" for o in self.offers)

    @property
    def fused(self) -> int:
        return sum(o.fuse_id is not None for o in self.offers)


def make_plan(a: argparse.Namespace) -> tuple[Plan, int]:
    """The offers, evenly spaced, and how many detection places (cameras) they use."""
    n = round(a.rate * a.seconds / 60)
    step = 60 / a.rate
    n_video = sum(int((i + 1) * a.video_share) > int(i * a.video_share) for i in range(n))
    n_places = max(1, min(n_video, GRID_COLS * GRID_ROWS * PLACES_PER_GRID))
    offers = []
    j = 0
    for i in range(n):
        if int((i + 1) * a.video_share) > int(i * a.video_share):
            fuse = int((j + 1) * a.fuse) > int(j * a.fuse)
            offers.append(
                Offer(
                    t=i * step,
                    kind="video",
                    det_type="intrusion" if j % 2 == 0 else "line_crossing",
                    camera_id=f"cam-{j % n_places:04d}",
                    event_id=str(new_id()),
                    fuse_id=str(new_id()) if fuse else None,
                )
            )
            j += 1
        else:
            grid, _ = place(i)
            offers.append(
                Offer(
                    t=i * step,
                    kind="post",
                    category=POST_CATEGORIES[i % len(POST_CATEGORIES)],
                    grid_id=grid,
                )
            )
    workers = [f"w{k:02d}" for k in range(1, a.workers + 1)]
    return Plan(offers, a.seconds, a.think, workers, frozenset({"17.01"})), n_places


# -- the clients (second process) --------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.ms: dict[str, list[float]] = {}
        self.errors: Counter[str] = Counter()

    async def call(self, name: str, req: Awaitable[httpx.Response], ok: int = 200) -> Any:
        t = time.perf_counter()
        try:
            r = await req
        except httpx.HTTPError as exc:
            self.errors[f"{name}: {type(exc).__name__}"] += 1
            return None
        self.ms.setdefault(name, []).append((time.perf_counter() - t) * 1000)
        if r.status_code != ok:
            self.errors[f"{name}: {r.status_code}"] += 1
            return None
        return r.json()


async def login(c: httpx.AsyncClient, user: str) -> dict[str, str]:
    r = await c.post("/api/auth/token", data={"username": user, "password": PASSWORD})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def sleep_until(t: float) -> float:
    """Sleeps until monotonic ``t``; returns how late it woke (s)."""
    now = time.monotonic()
    if t > now:
        await asyncio.sleep(t - now)
    return max(0.0, time.monotonic() - t)


def http_client(url: str) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    return httpx.AsyncClient(base_url=url, timeout=30, limits=limits)


async def load_clients(conn: Connection, url: str, plan: Plan) -> dict[str, Any]:
    rec = Recorder()
    async with http_client(url) as c, http_client(url) as hc:
        op, sup, wall = [await login(c, u) for u in ("op", "sup", "wall")]
        workers = {w: await login(c, w) for w in plan.workers}
        token = wall["Authorization"].split()[1]
        ws = await websockets.connect(
            f"{url.replace('http://', 'ws://')}/api/ws?access_token={token}", max_queue=None
        )
        by_event = {o.event_id: o for o in plan.offers if o.event_id}
        offered_at: dict[int, float] = {}
        evaluated_at: dict[int, float] = {}
        wall_seen: dict[int, float] = {}  # case id -> when the wall first heard of it
        latest: dict[int, dict[str, Any]] = {}  # case id -> the newest version on the wall
        msgs: Counter[str] = Counter()
        case_msgs: Counter[str] = Counter()
        drives: set[asyncio.Task[None]] = set()
        video_created = 0
        posted = post_failed = 0
        assign = iter(range(1 << 30))
        late: list[float] = []
        failed: list[int] = []
        conn.send("ready")
        t0: float = await asyncio.to_thread(conn.recv)
        start_cpu = time.process_time()

        async def drive(case: dict[str, Any], steps: tuple[str, ...]) -> None:
            cid, version = case["id"], case["version"]
            worker = plan.workers[next(assign) % len(plan.workers)]
            for action in steps:
                await asyncio.sleep(plan.think)
                now = latest.get(cid, case)
                if now["version"] > version:  # the system took steps meanwhile
                    version = now["version"]
                    worker = now["assignee"] or worker
                if STATES.index(now["state"]) >= STATES.index(AFTER[action]):
                    continue
                if action in WORKER_STEPS:
                    who = workers.get(worker, {})
                elif action in SUPERVISOR_STEPS:
                    who = sup
                else:
                    who = op
                if action == "receive":  # the worker opens the task first
                    got = await rec.call(
                        "GET /api/cases/{id}", c.get(f"/api/cases/{cid}", headers=who)
                    )
                    if got is None:
                        failed.append(cid)
                        return
                body: dict[str, Any] = {"action": action, "version": version}
                if action == "dispatch":
                    body["assignee"] = worker
                elif action == "feedback":
                    body["note"] = "已处置"
                elif action == "evaluate":
                    body["rating"] = 4
                out = await rec.call(
                    f"POST actions {action}",
                    c.post(f"/api/cases/{cid}/actions", json=body, headers=who),
                )
                if out is None:
                    failed.append(cid)
                    return
                version = out["version"]
            evaluated_at[cid] = time.monotonic()

        def start(case: dict[str, Any], steps: tuple[str, ...]) -> None:
            task = asyncio.create_task(drive(case, steps))
            drives.add(task)
            task.add_done_callback(drives.discard)

        async def post(o: Offer) -> None:
            nonlocal posted, post_failed
            body = {"category": o.category, "title": "道路破损 (bench)", "grid_id": o.grid_id}
            case = await rec.call(
                "POST /api/cases", c.post("/api/cases", json=body, headers=op), 201
            )
            if case is None:
                post_failed += 1
            else:
                posted += 1
                offered_at[case["id"]] = t0 + o.t
                start(case, MANUAL)

        async def entries() -> None:
            for o in plan.offers:
                if o.kind == "post":
                    late.append(await sleep_until(t0 + o.t))
                    start_task = asyncio.create_task(post(o))
                    drives.add(start_task)
                    start_task.add_done_callback(drives.discard)

        async def read_wall() -> None:
            nonlocal video_created
            async for raw in ws:
                m = orjson.loads(raw)
                msgs[m["type"]] += 1
                if m["type"] != "case":
                    continue
                d = m["data"]
                case, action = d["case"], d["action"]
                case_msgs[action] += 1
                if case["version"] > latest.get(case["id"], {"version": 0})["version"]:
                    latest[case["id"]] = case
                wall_seen.setdefault(case["id"], time.monotonic())
                if case["source"] != "video":
                    continue
                if action == "created":
                    video_created += 1
                    o = by_event.get(case["source_ref"])
                    if o is not None:
                        offered_at[case["id"]] = t0 + o.t
                    if case["category"] not in plan.auto_categories:
                        start(case, MANUAL)
                elif action == "open" and d["actor"] == "system":
                    start(case, AUTO)

        async def poll(
            name: str, path: str, every: float, client: httpx.AsyncClient, **kw: Any
        ) -> None:
            while True:
                await rec.call(name, client.get(path, **kw))
                await asyncio.sleep(every)

        wall_task = asyncio.create_task(read_wall())
        pollers = [
            asyncio.create_task(poll(HEALTH, "/api/health", HEALTH_EVERY, hc)),
            asyncio.create_task(
                poll("GET /api/cases?state=open (operator, 1/s)", "/api/cases", LIST_EVERY, c,
                     params={"state": "open"}, headers=op)
            ),
        ]  # fmt: skip
        await sleep_until(t0)
        await entries()
        await sleep_until(t0 + plan.seconds)
        n_cases = len(plan.offers)
        expected_msgs = CASE_MESSAGES * n_cases + plan.fused
        deadline = time.monotonic() + DRAIN_S + 10 * plan.think
        while time.monotonic() < deadline and not wall_task.done():
            entered = posted + video_created + post_failed >= n_cases
            driven = entered and not drives
            if driven and sum(case_msgs.values()) >= expected_msgs:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # stragglers on the wall
        t_end = time.monotonic()
        cpu = time.process_time() - start_cpu
        for task in [*pollers, *drives]:
            task.cancel()
        ws_close = None
        if wall_task.done():
            ws_close = f"closed by the hub: {ws.close_code} {ws.close_reason}"
        wall_task.cancel()
        await asyncio.gather(*pollers, *drives, wall_task, return_exceptions=True)
        await ws.close()
    loop_s = sorted(
        (offered_at[k] - t0, evaluated_at[k] - offered_at[k])
        for k in evaluated_at
        if k in offered_at
    )
    to_wall = [wall_seen[k] - offered_at[k] for k in offered_at if k in wall_seen]
    evals = sorted(evaluated_at.values())
    return {
        "ms": rec.ms,
        "errors": dict(rec.errors),
        "posted": posted,
        "video_created": video_created,
        "evaluated": len(evaluated_at),
        "failed": len(failed),
        "eval_span": evals[-1] - evals[0] if len(evals) > 1 else 0.0,
        "drain": (evals[-1] - (t0 + plan.seconds)) if evals else None,
        "loop_s": loop_s,
        "offer_to_wall_ms": [x * 1000 for x in to_wall],
        "msgs": dict(msgs),
        "case_msgs": dict(case_msgs),
        "expected_case_msgs": expected_msgs,
        "ws_close": ws_close,
        "late_max_ms": max(late, default=0.0) * 1000,
        "cpu_s": cpu,
        "wall_s": t_end - t0,
    }


LIST_QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("state=open", {"state": "open"}),
    ("state=open&grid_id=g05", {"state": "open", "grid_id": "g05"}),
    ("state=open&light=red", {"state": "open", "light": "red"}),
    ("state=open&category=02.01", {"state": "open", "category": "02.01"}),
    ("state=open&grid_id=g05&light=red", {"state": "open", "grid_id": "g05", "light": "red"}),
    ("state=open&limit=500", {"state": "open", "limit": 500}),
    ("(no filter: every case)", {}),
]
PAGES = 10


async def list_clients(url: str, rounds: int, worker: str) -> dict[str, Any]:
    rec = Recorder()
    totals: dict[str, int] = {}
    async with http_client(url) as c:
        op = await login(c, "op")
        wk = await login(c, worker)
        for _ in range(rounds):
            for name, params in LIST_QUERIES:
                got = await rec.call(name, c.get("/api/cases", params=params, headers=op))
                if got is not None:
                    totals[name] = got["total"]
                await rec.call(HEALTH, c.get("/api/health"))
            got = await rec.call(f"worker {worker}: own list", c.get("/api/cases", headers=wk))
            if got is not None:
                totals[f"worker {worker}: own list"] = got["total"]
            await rec.call(HEALTH, c.get("/api/health"))
            # Paging down with before_id (pages 2..PAGES+1 of state=open, 50 a page).
            nxt = (
                await rec.call("_first", c.get("/api/cases", params={"state": "open"}, headers=op))
                or {}
            ).get("next_before_id")
            for _ in range(PAGES):
                if nxt is None:
                    break
                params = {"state": "open", "before_id": nxt}
                got = await rec.call(
                    f"state=open&before_id (pages 2-{PAGES + 1})",
                    c.get("/api/cases", params=params, headers=op),
                )
                nxt = None if got is None else got["next_before_id"]
                await rec.call(HEALTH, c.get("/api/health"))
    rec.ms.pop("_first", None)
    return {"ms": rec.ms, "errors": dict(rec.errors), "totals": totals}


def client_main(conn: Connection) -> None:
    """The second process: runs each phase the hub side asks for, returns its figures."""
    while True:
        msg = conn.recv()
        if msg[0] == "load":
            conn.send(asyncio.run(load_clients(conn, *msg[1:])))
        elif msg[0] == "list":
            conn.send(asyncio.run(list_clients(*msg[1:])))
        else:
            return


# -- the hub side (this process) ---------------------------------------------------------------


async def recv(conn: Connection, proc: multiprocessing.process.BaseProcess, limit: float) -> Any:
    """The client process's next answer, waited for off the event loop (``limit`` seconds)."""

    def wait() -> Any:
        end = time.monotonic() + limit
        while time.monotonic() < end:
            if conn.poll(0.2):
                return conn.recv()
            if not proc.is_alive():
                raise RuntimeError(f"the client process died (exit {proc.exitcode})")
        raise TimeoutError("the client process did not answer")

    return await asyncio.to_thread(wait)


async def publish_detections(bus: MemoryBus, plan: Plan, t0: float, site: Site) -> float:
    """Publishes the plan's detections on time (and the fusing ones one step later); returns
    the largest delay behind schedule (s)."""
    items: list[tuple[float, Offer, str]] = []
    for o in plan.offers:
        if o.kind == "video":
            assert o.event_id is not None
            items.append((o.t, o, o.event_id))
            if o.fuse_id is not None:
                items.append((o.t + plan.think, o, o.fuse_id))
    items.sort(key=lambda x: x[0])
    late = 0.0
    for seq, (t, o, event_id) in enumerate(items, 1):
        late = max(late, await sleep_until(t0 + t))
        cam = site.camera_by_id[o.camera_id or ""]
        now = datetime.now(UTC)
        line = o.det_type == "line_crossing"
        ev = RecordedEvent(
            id=event_id,
            camera_id=cam.id,
            grid_id=cam.grid,
            type=o.det_type,
            zone_id=None if line else "z1",
            line_id="l1" if line else None,
            direction="forward" if line else None,
            track_id=seq,
            start=now,
            end=now if line else None,
            media_time=float(seq),
            boxes=[{"x": 0.4, "y": 0.4, "w": 0.05, "h": 0.2}],
            confidence=0.9,
            seq=seq,
            created_at=now,
        )
        await bus.publish(EVENTS_RECORDED, ev)
    return late


async def settle(svc: CaseService, limit: float = 120.0) -> float:
    """Waits until the hub has worked off what the load left queued (detections still opening
    cases): no new case for 2 s. Returns the seconds waited."""
    t = time.monotonic()
    last = -1
    while time.monotonic() - t < limit:
        async with svc.repo.read() as conn:
            now = (await conn.execute(select(func.count()).select_from(CaseRow))).scalar()
        if now == last:
            break
        last = now
        await asyncio.sleep(2.0)
    return time.monotonic() - t


async def prefill(svc: CaseService, n: int, workers: list[str]) -> float:
    """``n`` running cases written straight into the case tables on the service's engine, the
    columns as the service's own ``_create`` and steps leave them (and a ``created`` timeline
    entry each), in multi-row statements of 500: spread over the last 3 days, the categories,
    the grids and the running states, their clocks and light computed on the working calendar.
    Returns seconds taken."""
    rng = random.Random(7)
    cats = list(svc.catalogue)
    states = sorted(OPEN_STATES)
    now = datetime.now(UTC)
    t = time.perf_counter()
    for first in range(0, n, PREFILL_BATCH):
        rows = []
        for i in range(first, min(n, first + PREFILL_BATCH)):
            cat = rng.choice(cats)
            state = rng.choice(states)
            stage = STAGE_OF[state]
            created = now - timedelta(hours=rng.uniform(0, 72))
            stage_start = created + (now - created) * rng.uniform(0, 1)
            sc = svc.calendar.stage_clock(cat, stage, stage_start)
            tc = svc.calendar.total_clock(cat, created)
            k = rng.randrange(GRID_COLS * GRID_ROWS)
            lon0, lat0 = grid_origin(k)
            lon, lat = lon0 + rng.uniform(0, GRID_DEG), lat0 + rng.uniform(0, GRID_DEG)
            hit = svc.grids.locate((lon, lat))
            assert hit is not None
            rows.append(
                {
                    "version": 1,
                    "category": cat.code,
                    "kind": cat.kind,
                    "title": f"{cat.name} (bench)",
                    "description": "",
                    "source": "operator",
                    "source_ref": f"bench-{i}",
                    "state": state,
                    "pending": None,
                    "grid_id": hit.grid.id,
                    "community_id": hit.community.id,
                    "street_id": hit.street.id,
                    "lon": lon,
                    "lat": lat,
                    "address": None,
                    "department": cat.department,
                    "reporter": "op",
                    "assignee": rng.choice(workers) if stage in ("handle", "check") else None,
                    "created_at": created,
                    "updated_at": stage_start,
                    "yellow_at": tc.yellow_at,
                    "deadline": tc.due,
                    "stage": stage,
                    "stage_started_at": stage_start,
                    "stage_yellow_at": sc.yellow_at,
                    "stage_deadline": sc.due,
                    "light": case_light(now, sc, tc),
                    "escalation": 0,
                    "evidence_count": 0,
                    "last_evidence_at": created,
                    "rework_count": 0,
                }
            )
        async with svc.repo.begin() as conn:
            await conn.execute(insert(CaseRow), rows)
            refs = [row["source_ref"] for row in rows]
            got = await conn.execute(
                select(CaseRow.source_ref, CaseRow.id).where(CaseRow.source_ref.in_(refs))
            )
            ids = {ref: case_id for ref, case_id in got}
            timeline = [
                {
                    "case_id": ids[row["source_ref"]],
                    "ts": row["created_at"],
                    "action": "created",
                    "actor": "op",
                    "role": "operator",
                    "from_state": None,
                    "to_state": "reported",
                    "version": 1,
                    "detail": {"source": "operator", "category": row["category"]},
                }
                for row in rows
            ]
            await conn.execute(insert(CaseTimelineRow), timeline)
    return time.perf_counter() - t


@contextlib.asynccontextmanager
async def database(kind: str, tmp: Path) -> AsyncIterator[str]:
    """ "" (the hub's SQLite file in its data dir) or a private PostgreSQL database."""
    if kind == "sqlite":
        yield ""
        return
    _tests_on_path()
    from store.conftest import private_postgres

    async with private_postgres() as url:
        yield url


async def run_store(kind: str, a: argparse.Namespace) -> dict[str, Any]:
    _tests_on_path()
    from web.web_helpers import FakeVideo, serve

    plan, n_places = make_plan(a)
    out: dict[str, Any] = {"kind": kind, "plan": plan}
    ctx = multiprocessing.get_context("spawn")
    conn, child_conn = ctx.Pipe()
    proc = ctx.Process(target=client_main, args=(child_conn,), daemon=True)
    proc.start()
    try:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            site = bench_site(n_places)
            (tmp / "site.yaml").write_text(site.to_yaml(), encoding="utf-8")
            async with database(kind, tmp) as db_url:
                settings = Settings(
                    site=tmp / "site.yaml",
                    data_dir=tmp / "data",
                    database_url=db_url,
                    mqtt_ingest=False,
                )
                bus = MemoryBus()
                app = create_app(settings, video=FakeVideo(["cam-0000"]), bus=bus)
                async with serve(app, settings) as url:
                    state = app.state.hub
                    users = state.store.users
                    for name, role in (
                        ("op", "operator"),
                        ("sup", "supervisor"),
                        ("wall", "operator"),
                    ):
                        await users.create(name, role, PASSWORD)
                    for w in plan.workers:
                        await users.create(w, "worker", PASSWORD)
                    out["load"] = await load_phase(conn, proc, url, plan, bus, site, db_url)
                    svc = state.cases
                    out["settle_s"] = await settle(svc)
                    out["hub_log"] = HUB_LOG.take()
                    if a.list_rounds > 0:
                        out["prefill_s"] = await prefill(svc, a.open_cases, plan.workers)
                        conn.send(("list", url, a.list_rounds, plan.workers[0]))
                        out["list"] = await recv(conn, proc, 600)
                        out["list_log"] = HUB_LOG.take()
        return out
    finally:
        with contextlib.suppress(OSError):
            conn.send(("stop",))
        proc.join(10)
        if proc.is_alive():
            proc.kill()


def db_server(db_url: str) -> list[psutil.Process]:
    """The PostgreSQL server's processes: the postmaster listening on the URL's port and its
    children (none for SQLite, which runs inside the hub process)."""
    if not db_url:
        return []
    port = str(make_url(db_url).port)
    for p in psutil.process_iter(["name", "cmdline"]):
        cmd = p.info["cmdline"] or []
        if p.info["name"] == "postgres" and "-p" in cmd and cmd[cmd.index("-p") + 1] == port:
            return [p, *p.children(recursive=True)]
    return []


def cpu_seconds(procs: list[psutil.Process]) -> dict[int, float]:
    out = {}
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
    return out


async def load_phase(
    conn: Connection,
    proc: multiprocessing.process.BaseProcess,
    url: str,
    plan: Plan,
    bus: MemoryBus,
    site: Site,
    db_url: str,
) -> dict[str, Any]:
    conn.send(("load", url, plan))
    ready = await recv(conn, proc, 120)
    assert ready == "ready", ready
    t0 = time.monotonic() + 0.5
    conn.send(t0)
    me = psutil.Process()
    cpu0, machine0 = me.cpu_times(), psutil.cpu_times()
    db0 = cpu_seconds(db_server(db_url))
    late = await publish_detections(bus, plan, t0, site)
    result: dict[str, Any] = await recv(conn, proc, plan.seconds + 300)
    cpu1, machine1 = me.cpu_times(), psutil.cpu_times()
    db1 = cpu_seconds(db_server(db_url))
    wall_s = result["wall_s"]
    hub_cpu = cpu1.user + cpu1.system - cpu0.user - cpu0.system
    result["hub_cores"] = hub_cpu / wall_s
    requests = sum(len(v) for v in result["ms"].values()) + sum(result["errors"].values())
    result["hub_cpu_ms_per_case"] = hub_cpu * 1000 / len(plan.offers)
    result["hub_cpu_ms_per_request"] = hub_cpu * 1000 / max(1, requests)
    result["db_cores"] = (
        sum(v - db0.get(k, 0.0) for k, v in db1.items()) / wall_s if db_url else None
    )
    busy = sum(machine1) - sum(machine0) - (machine1.idle - machine0.idle)
    busy -= getattr(machine1, "iowait", 0.0) - getattr(machine0, "iowait", 0.0)
    result["machine_cores"] = busy / wall_s
    result["publish_late_ms"] = late * 1000
    return result


# -- the report --------------------------------------------------------------------------------


def row(name: str, xs: list[float], base99: float | None, base50: float | None = None) -> str:
    p50, p95, p99 = percentile(xs, 50), percentile(xs, 95), percentile(xs, 99)
    ratio = ""
    if base99:
        ratio = f"{p99 / base99:7.1f}x"
        if base50:
            ratio = f"{p50 / base50:7.1f}x {ratio}"
    return f"  {name:<46} {len(xs):>6} {p50:8.1f} {p95:8.1f} {p99:8.1f} {max(xs):8.1f}  {ratio}"


def report(res: dict[str, Any], a: argparse.Namespace) -> None:
    kind = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[res["kind"]]
    plan: Plan = res["plan"]
    ld = res["load"]
    n = len(plan.offers)
    print(f"\n== {kind}: case loop at {a.rate:.0f} new cases/min for {a.seconds:.0f} s "
          f"(think {a.think} s between steps, {a.workers} workers)")  # fmt: skip
    print(f"offered: {n} cases ({n - plan.video} by POST /api/cases, {plan.video} by detection), "
          f"plus {plan.fused} detections that join a running case")  # fmt: skip
    created = ld["posted"] + ld["video_created"]
    rate = (ld["evaluated"] - 1) / ld["eval_span"] * 60 if ld["eval_span"] else 0.0
    offered_rate = (n - 1) / (plan.offers[-1].t - plan.offers[0].t) * 60 if n > 1 else 0.0
    print(f"created: {created} of {n}; evaluated: {ld['evaluated']} of {n} ({ld['failed']} "
          f"stopped by a failed call); "
          f"evaluations at {rate:.0f}/min against {offered_rate:.0f}/min offered "
          f"({rate / offered_rate if offered_rate else 0:.2f}); "
          f"last one {ld['drain'] or 0:.1f} s after the offer stopped")  # fmt: skip
    growth = None
    if ld["loop_s"]:
        loop = [x for _, x in ld["loop_s"]]
        third = max(1, len(loop) // 3)
        first, last = percentile(loop[:third], 50), percentile(loop[-third:], 50)
        growth = last / first
        print(f"offer -> evaluated per case: p50 {percentile(loop, 50):.2f} s, "
              f"p99 {percentile(loop, 99):.2f} s (of which {len(MANUAL)} x {a.think} s think "
              f"for entered cases, {len(AUTO)} x for intrusions); p50 of the first third "
              f"offered {first:.2f} s, of the last third {last:.2f} s")  # fmt: skip
    if ld["offer_to_wall_ms"]:
        tw = ld["offer_to_wall_ms"]
        print(f"offer (POST sent / detection due) -> first case message on the wall: "
              f"p50 {percentile(tw, 50):.1f} ms, p99 {percentile(tw, 99):.1f} ms")  # fmt: skip
    got = sum(ld["case_msgs"].values())
    print(f"wall: {got} case messages of {ld['expected_case_msgs']} expected "
          f"({', '.join(f'{k} {v}' for k, v in sorted(ld['case_msgs'].items()))}); "
          f"{ld['msgs'].get('event', 0)} event messages of {plan.video + plan.fused}; "
          f"{ld['ws_close'] or 'stayed connected'}")  # fmt: skip
    kept = {
        "every case created": created == n,
        "every case evaluated": ld["evaluated"] == n,
        "a steady loop time (last third's p50 <= 1.5 x the first third's)": growth is not None
        and growth <= 1.5,
        "every case message on the wall": got >= ld["expected_case_msgs"],
    }
    missed = [k for k, ok in kept.items() if not ok]
    print(f"the loop keeps up: {'yes' if not missed else 'NO (not ' + '; not '.join(missed) + ')'}")
    clients = ld["cpu_s"] / ld["wall_s"]
    db = "" if ld["db_cores"] is None else f"PostgreSQL server {ld['db_cores']:.2f}, "
    print(f"CPU: hub process {ld['hub_cores']:.2f} cores ({ld['hub_cpu_ms_per_case']:.0f} ms per "
          f"offered case, {ld['hub_cpu_ms_per_request']:.1f} ms per HTTP request), {db}clients "
          f"{clients:.2f}, whole machine "
          f"{ld['machine_cores']:.2f} of {psutil.cpu_count()} busy; schedule slip: POST "
          f"{ld['late_max_ms']:.0f} ms, detections {ld['publish_late_ms']:.0f} ms")  # fmt: skip
    if ld["errors"]:
        print(f"failed calls: {ld['errors']}")
    for kind, count in res["hub_log"].most_common():
        print(f"hub log: {count} x {kind}")
    ms: dict[str, list[float]] = ld["ms"]
    base = ms.get(HEALTH, [])
    b50, b99 = (percentile(base, 50), percentile(base, 99)) if base else (None, None)
    print(f"\n  {'call (during the load)':<46} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} "
          f"{'p99 ms':>8} {'max ms':>8}  ratio to health p50, p99")  # fmt: skip
    if base:
        print(row(HEALTH, base, None))
    case_calls: list[float] = []
    order = ["POST /api/cases", *(f"POST actions {s}" for s in MANUAL)]
    order += ["GET /api/cases/{id}", "GET /api/cases?state=open (operator, 1/s)"]
    for name in order:
        if name in ms:
            print(row(name, ms[name], b99, b50))
            case_calls += ms[name]
    if case_calls:
        print(row("all case API calls", case_calls, b99, b50))
        p99 = percentile(case_calls, 99)
        print(f"  target p99 < 100 ms for the case API calls: {'met' if p99 < 100 else 'NOT met'}")

    if "list" not in res:
        return
    ls = res["list"]
    print(f"\n  (the hub had worked off the load's queue {res['settle_s']:.0f} s after it)")
    print(f"\n  case list with {a.open_cases} running cases (prefilled in "
          f"{res['prefill_s']:.1f} s), one request at a time, {a.list_rounds} rounds:")  # fmt: skip
    lms: dict[str, list[float]] = ls["ms"]
    base = lms.get(HEALTH, [])
    b50, b99 = (percentile(base, 50), percentile(base, 99)) if base else (None, None)
    print(f"  {'GET /api/cases?...':<46} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} "
          f"{'p99 ms':>8} {'max ms':>8}  ratio to health p50, p99   total")  # fmt: skip
    if base:
        print(row(HEALTH, base, None))
    for name, xs in lms.items():
        if name != HEALTH:
            total = ls["totals"].get(name)
            print(row(name, xs, b99, b50) + ("" if total is None else f"   {total:>6}"))
    if ls["errors"]:
        print(f"  failed calls: {ls['errors']}")
    for kind, count in res["list_log"].most_common():
        print(f"  hub log: {count} x {kind}")


class HubLog(logging.Handler):
    """The hub's warnings and errors, counted by kind (logger, message, the exception's first
    line) and each kind printed once, on one line: the report counts the failed calls, the log
    says why."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.kinds: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        kind = f"{record.levelname} {record.name}: {record.getMessage().strip()}"
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            kind += f" ({type(exc).__name__}: {(str(exc).splitlines() or [''])[0]})"
        kind = re.sub(r"/\d+/", "/{id}/", kind)
        if kind not in self.kinds:
            print(f"hub log: {kind}", file=sys.stderr)
        self.kinds[kind] += 1

    def take(self) -> Counter[str]:
        kinds, self.kinds = self.kinds, Counter()
        return kinds


HUB_LOG = HubLog()


async def main_async(a: argparse.Namespace) -> None:
    # Account set-up only: the bench does not measure password hashing.
    passwords.set_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    kinds = ["sqlite", "postgresql"] if a.store == "both" else [a.store]
    results = []
    try:
        for kind in kinds:
            t = time.monotonic()
            res = await run_store(kind, a)
            res["seconds"] = time.monotonic() - t
            report(res, a)
            results.append(res)
    finally:
        if "postgresql" in kinds:
            import pg_cluster

            pg_cluster.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--rate", type=float, default=1000.0, help="new cases per minute")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--open-cases", type=int, default=10_000)
    ap.add_argument("--think", type=float, default=0.5, help="seconds between a case's steps")
    ap.add_argument("--workers", type=int, default=10)
    ap.add_argument("--video-share", type=float, default=0.5)
    ap.add_argument(
        "--fuse", type=float, default=0.5, help="share of detections joined by a second"
    )
    ap.add_argument("--list-rounds", type=int, default=40, help="0: no list part")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, handlers=[HUB_LOG])
    asyncio.run(main_async(a))


if __name__ == "__main__":
    main()
