"""One grid worker (网格员) with a field app: on duty with GPS heartbeats, their task list,
签收 receive, the walk to the case, arrive, a photo, 处置反馈 feedback; now and then a return
request, an extension request, a patrol report (随手拍) or a lost connection.

Two tasks per bot: the heartbeat (position and duty, every few seconds) and the work (the task
list and the walk). Every error is logged and waited out; the bot never ends on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hub.config import Category, Grid, Site, Worker
from simulators.workers import geo
from simulators.workers.behaviour import (
    EXTENSION_NOTES,
    FEEDBACK_NOTES,
    RETURN_NOTES,
    Behaviour,
)
from simulators.workers.calls import CallAnswerer
from simulators.workers.client import Backoff, CaseView, HubClient, log_failure
from simulators.workers.photo import make_photo

log = logging.getLogger(__name__)

IN_HAND = ("dispatched", "received", "on_scene")
# Patrols find street-level problems; emergencies and security events come from elsewhere.
_PATROL_MAJORS = frozenset({"01", "02", "03", "04", "11", "12", "13", "15", "16"})


class WorkerBot:
    def __init__(
        self,
        api: HubClient,
        worker: Worker,
        site: Site,
        behaviour: Behaviour,
        rng: random.Random,
    ) -> None:
        self.api = api
        self.worker = worker
        self.site = site
        self.b = behaviour
        self.rng = rng
        self.tz = ZoneInfo(site.site.timezone)
        by_id = {g.id: g for g in site.grids()}
        self.grids: list[Grid] = [by_id[g] for g in worker.grids if g in by_id]
        if not self.grids:
            # A department worker has no grid of their own: they start somewhere in the
            # district and patrol there.
            self.grids = [rng.choice(list(by_id.values()))]
        self.position: geo.LonLat = geo.random_point(self.grids[0], rng)
        self.patrol_target: geo.LonLat | None = None
        self.offline_until = 0.0
        self.asked: set[tuple[int, str]] = set()
        """(case, request) already asked once: a rejected request is not asked again."""
        self.patrol_categories: list[Category] = [
            c for c in site.catalogue().categories if c.code[:2] in _PATROL_MAJORS
        ]
        self.handled = 0
        self.reports = 0
        self.calls = CallAnswerer(
            api, rng, poll_s=behaviour.call_poll_s or 1.0, p_decline=behaviour.p_decline_call
        )

    @property
    def username(self) -> str:
        return self.worker.username

    @property
    def offline(self) -> bool:
        return time.monotonic() < self.offline_until

    # -- life --------------------------------------------------------------------------------

    def _backoff(self) -> Backoff:
        first, cap = self.b.backoff_s
        return Backoff(self.rng, first=first, cap=cap)

    async def run(self) -> None:
        """Heartbeat and work until cancelled; then a last heartbeat ends the shift."""
        tasks = [asyncio.create_task(self._heartbeats(), name=f"heartbeat-{self.username}")]
        if self.b.call_poll_s > 0:
            tasks.append(asyncio.create_task(self.calls.run(), name=f"calls-{self.username}"))
        try:
            await self._work()
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t

    async def off_duty(self) -> None:
        """End the shift (best effort: the hub may be gone already)."""
        try:
            await asyncio.wait_for(self.api.heartbeat(self.position, on_duty=False), 3.0)
        except Exception as exc:
            log.info(
                "%s could not go off duty: %s",
                self.username,
                exc,
                extra={"worker": self.username},
            )

    async def _heartbeats(self) -> None:
        backoff = self._backoff()
        while True:
            if self.offline:
                await asyncio.sleep(min(self.b.heartbeat_s, self.offline_until - time.monotonic()))
                continue
            try:
                await self.api.heartbeat(
                    geo.jitter(self.position, self.rng, self.b.gps_error_m),
                    on_duty=True,
                    accuracy_m=self.b.gps_error_m * self.rng.uniform(0.8, 2.0),
                )
                backoff.reset()
            except Exception as exc:
                log_failure(log, "heartbeat", self.username, exc)
                await backoff.wait()
                continue
            await asyncio.sleep(self.b.heartbeat_s)

    async def _work(self) -> None:
        backoff = self._backoff()
        while True:
            try:
                await self._round()
                backoff.reset()
            except Exception as exc:
                log_failure(log, "work", self.username, exc)
                await backoff.wait()

    async def _round(self) -> None:
        if self.offline:
            await asyncio.sleep(self.offline_until - time.monotonic())
            log.info("%s is back online", self.username, extra={"worker": self.username})
        tasks = await self._in_hand()
        new = sorted((c for c in tasks if c.state == "dispatched" and c.pending is None), key=_id)
        for case in new:
            await self._take(case)
        if new:
            tasks = await self._in_hand()
        ready = [c for c in tasks if c.state in ("received", "on_scene") and c.pending is None]
        if ready:
            await self._handle(min(ready, key=_id))
            await asyncio.sleep(self.b.step_s)  # never a tight loop on a case that will not move
            return
        await self._idle()

    async def _in_hand(self) -> list[CaseView]:
        # The worker's list also holds the cases they reported (随手拍), sent to others: not theirs
        # to take.
        return [c for c in await self.api.cases(IN_HAND) if c.assignee == self.username]

    # -- a case ------------------------------------------------------------------------------

    async def _take(self, case: CaseView) -> None:
        """签收, or now and then ask for the case to go back (回退)."""
        if (case.id, "return") not in self.asked and self.rng.random() < self.b.p_return:
            self.asked.add((case.id, "return"))
            await self.api.step(case, "request_return", note=self.rng.choice(RETURN_NOTES))
            log.info(
                "%s asked to return case %s",
                self.username,
                case.id,
                extra={"worker": self.username, "case": case.id},
            )
            return
        await self.api.step(case, "receive")

    async def _handle(self, case: CaseView | None) -> None:
        if case is not None and case.state == "received":
            await self._walk(self._place_of(case))
            case = await self.api.step(case, "arrive")
            if case is not None:
                await self.api.heartbeat(self.position)  # the track shows the arrival at once
        if case is None or case.state != "on_scene" or case.pending is not None:
            return
        if (case.id, "extension") not in self.asked and self.rng.random() < self.b.p_extension:
            self.asked.add((case.id, "extension"))
            await self.api.step(
                case,
                "request_extension",
                note=self.rng.choice(EXTENSION_NOTES),
                extension=self.rng.choice(["1 working_days", "2 working_days"]),
            )
            return  # on hold until the supervisor answers
        await asyncio.sleep(self.b.wall(self.rng.uniform(*self.b.handle_s)))
        photo = await self._photo(f"case {case.id} {case.category}")
        done = await self.api.step(
            case, "feedback", note=self.rng.choice(FEEDBACK_NOTES), photos=[photo]
        )
        if done is not None and done.state == "handled":
            self.handled += 1
            log.info(
                "%s handled case %s",
                self.username,
                case.id,
                extra={"worker": self.username, "case": case.id},
            )

    def _place_of(self, case: CaseView) -> geo.LonLat:
        if case.position is not None:
            return case.position
        grid = next((g for g in self.site.grids() if g.id == case.grid_id), None)
        return self.position if grid is None else geo.centre(grid)

    async def _walk(self, target: geo.LonLat) -> None:
        far = geo.distance_m(self.position, target) > self.b.ride_from_m
        mps = self.b.ride_mps if far else self.b.walk_mps
        per_step = mps * self.b.speed * self.b.step_s
        while self.position != target:
            await asyncio.sleep(self.b.step_s)
            self.position = geo.toward(self.position, target, per_step)

    async def _photo(self, what: str) -> str:
        jpeg = await asyncio.to_thread(
            make_photo,
            [what, f"{self.username}  {self.position[0]:.5f},{self.position[1]:.5f}"],
            datetime.now(UTC),
            self.rng,
            tz=self.tz,
        )
        return await self.api.upload_photo(jpeg)

    # -- between cases -----------------------------------------------------------------------

    async def _idle(self) -> None:
        if self.rng.random() < self.b.p_offline:
            self.offline_until = time.monotonic() + self.rng.uniform(*self.b.offline_s)
            log.info("%s went offline", self.username, extra={"worker": self.username})
            return
        if self.patrol_categories and self.rng.random() < self.b.p_report:
            await self._report()
        await self._patrol(self.b.poll_s)

    async def _patrol(self, wall_s: float) -> None:
        """Stroll toward a spot in one of the worker's grids for ``wall_s`` seconds."""
        if self.patrol_target is None or self.patrol_target == self.position:
            self.patrol_target = geo.random_point(self.rng.choice(self.grids), self.rng)
        steps = max(1, round(wall_s / self.b.step_s))
        per_step = self.b.walk_mps * self.b.speed * self.b.step_s
        for _ in range(steps):
            await asyncio.sleep(self.b.step_s)
            self.position = geo.toward(self.position, self.patrol_target, per_step)

    async def _report(self) -> None:
        cat = self.rng.choice(self.patrol_categories)
        on_spot = cat.minor_on_spot and self.rng.random() < self.b.p_on_spot
        photo = await self._photo(f"patrol {cat.code}")
        # For the wording only: the hub locates the case from its position itself.
        grid = next((g for g in self.grids if geo.contains(g, self.position)), self.grids[0])
        body = {
            "category": cat.code,
            "title": f"{cat.name}（巡查发现）",
            "description": f"{self.worker.name}在{grid.name}巡查时发现{cat.name}。"
            + ("已现场自行处置。" if on_spot else ""),
            "position": [round(self.position[0], 7), round(self.position[1], 7)],
            "photos": [photo],
            "on_spot": on_spot,
        }
        case = await self.api.report(body)
        self.reports += 1
        log.info(
            "%s reported case %s (%s%s)",
            self.username,
            case.id,
            cat.name,
            ", 自行处置" if on_spot else "",
            extra={"worker": self.username, "case": case.id, "on_spot": on_spot},
        )


def _id(case: CaseView) -> int:
    return case.id
