"""A worker bot answers the command center's calls, as the field app does: it sees a call ring
(its call list), answers after a few seconds (or now and then declines), sends a test card and
a tone, receives everyone else (the operator, shared cameras and drones), and hangs up when the
call ends. What it received is logged and counted, so a demo shows whether calls carry media."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass
from typing import Any

from simulators.calls.media import CardTrack, ToneTrack
from simulators.calls.participant import Participant
from simulators.workers.client import HubClient, log_failure

log = logging.getLogger(__name__)


@dataclass
class CallStats:
    answered: int = 0
    declined: int = 0
    media_ok: int = 0
    """Calls in which the bot received video frames and sound from someone else."""


class CallAnswerer:
    def __init__(
        self,
        api: HubClient,
        rng: random.Random,
        *,
        poll_s: float = 2.0,
        ring_s: tuple[float, float] = (1.0, 4.0),
        p_decline: float = 0.1,
        max_call_s: float = 300.0,
    ) -> None:
        self.api = api
        self.rng = rng
        self.poll_s = poll_s
        self.ring_s = ring_s
        self.p_decline = p_decline
        self.max_call_s = max_call_s
        self.stats = CallStats()
        self.current: Participant | None = None

    @property
    def username(self) -> str:
        return self.api.username

    async def run(self) -> None:
        while True:
            try:
                for call in await self.api.call("GET", "/api/calls"):
                    me = next(p for p in call["participants"] if p["username"] == self.username)
                    if me["state"] == "invited" and call["state"] != "ended":
                        await self._ring(call)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log_failure(log, "calls", self.username, exc)
            await asyncio.sleep(self.poll_s)

    async def _ring(self, call: dict[str, Any]) -> None:
        await asyncio.sleep(self.rng.uniform(*self.ring_s))
        if self.rng.random() < self.p_decline:
            await self.api.call("POST", f"/api/calls/{call['id']}/decline")
            self.stats.declined += 1
            log.info("%s declined call %s", self.username, call["id"][:6])
            return
        body = await self.api.call("POST", f"/api/calls/{call['id']}/join")
        self.stats.answered += 1
        p = Participant(self.api.http, "", self.username)
        p.joined(call["id"], body)
        self.current = p
        try:
            await self._talk(p, call["id"])
        finally:
            self.current = None
            await p.close_media()
            with contextlib.suppress(Exception):
                await self.api.call("POST", f"/api/calls/{call['id']}/leave")

    async def _talk(self, p: Participant, call_id: str) -> None:
        await p.publish(CardTrack(label=self.rng.randrange(10)), ToneTrack(self.rng.choice(
            (440.0, 523.0, 660.0))))  # fmt: skip
        loop = asyncio.get_running_loop()
        start = loop.time()
        ok = False
        while loop.time() - start < self.max_call_s:
            call = await self.api.call("GET", f"/api/calls/{call_id}")
            if call["state"] == "ended":
                break
            await p.subscribe_all(call)
            await p.recover()
            got = list(p.received.values())
            if (
                not ok
                and any(g.video_frames >= 15 for g in got)
                and any(g.audio_peak > 0.01 for g in got)
            ):
                ok = True
                self.stats.media_ok += 1
                log.info(
                    "%s in call %s: receiving %d stream(s), video and sound",
                    self.username,
                    call_id[:6],
                    len(got),
                )
            await asyncio.sleep(1.0)
