"""The duty officer (值班员) at the center, as a bot: each round it checks handled cases (核查,
now and then 返工), evaluates closed ones (评价), takes in reported cases that were not
dispatched automatically (受理, 立案, 派遣 to the first recommended worker) and answers return and
extension requests.

The workflow splits these between roles: only the center (operator) accepts, only a supervisor
answers requests. The bot is given one or more accounts and uses, for each step, one whose role
may take it; steps no account may take are left to the people at the wall.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence

from simulators.workers.behaviour import (
    CHECK_FAIL_NOTES,
    EVALUATION_NOTES,
    RATING_WEIGHTS,
    Behaviour,
)
from simulators.workers.client import Backoff, CaseView, HubClient, log_failure

log = logging.getLogger(__name__)

CENTER = frozenset({"admin", "operator"})
SUPERVISORS = frozenset({"admin", "supervisor"})
CHECKERS = CENTER | SUPERVISORS
Step = Callable[[HubClient, CaseView], Awaitable[CaseView | None]]
WATCHED = (
    "reported",
    "accepted",
    "opened",
    "dispatched",
    "received",
    "on_scene",
    "handled",
    "closed",
)
"""Every state where the center may have something to do (requests wait in the running ones;
the API has no filter for them)."""


class DutyBot:
    def __init__(
        self, accounts: Sequence[HubClient], behaviour: Behaviour, rng: random.Random
    ) -> None:
        if not accounts:
            raise ValueError("the duty officer needs at least one account")
        self.accounts = list(accounts)
        self.b = behaviour
        self.rng = rng
        self.done: dict[str, int] = {}
        """Steps taken, by action (for tests and the log)."""
        self._jobs: dict[str, tuple[frozenset[str], Step]] = {
            "reported": (CENTER, self._accept),
            "accepted": (CENTER | SUPERVISORS, self._open),
            "opened": (CENTER | SUPERVISORS, self._dispatch),
            "handled": (CHECKERS, self._check),
            "closed": (CHECKERS, self._evaluate),
        }
        """What the center does to a case in each state, and who may."""
        self._answer: tuple[frozenset[str], Step] = (SUPERVISORS, self._answer_request)

    def _backoff(self) -> Backoff:
        first, cap = self.b.backoff_s
        return Backoff(self.rng, first=first, cap=cap)

    async def run(self) -> None:
        for api in self.accounts:
            await self._login(api)
        backoff = self._backoff()
        while True:
            try:
                await self.round()
                backoff.reset()
            except Exception as exc:
                log_failure(log, "duty round", self.accounts[0].username, exc)
                await backoff.wait()
                continue
            await asyncio.sleep(self.b.duty_poll_s)

    async def _login(self, api: HubClient) -> None:
        backoff = self._backoff()
        while api.role is None:
            try:
                await api.login()
            except Exception as exc:
                log_failure(log, "login", api.username, exc)
                await backoff.wait()

    def _account(self, roles: frozenset[str]) -> HubClient | None:
        return next((a for a in self.accounts if a.role in roles), None)

    async def round(self) -> None:
        """One pass over everything waiting for the center, oldest first. A failing case is
        logged and the round goes on with the next."""
        cases = await self.accounts[0].cases(WATCHED, limit=self.b.scan)
        waiting = [c for c in cases if c.pending is not None or c.state in self._jobs]
        for case in sorted(waiting, key=lambda c: c.id)[: self.b.batch]:
            try:
                await self._advance(case)
            except Exception as exc:
                log_failure(log, f"case {case.id}", self.accounts[0].username, exc)

    async def _advance(self, case: CaseView | None) -> None:
        """Take the case as far as the center's part goes, as an officer with it open would:
        受理, 立案 and 派遣 in one sitting."""
        for _ in range(4):
            if case is None:
                return
            job = self._answer if case.pending is not None else self._jobs.get(case.state)
            if job is None:
                return
            roles, do = job
            api = self._account(roles)
            if api is None:
                return  # a step none of the bot's accounts may take: left to the wall
            after = await do(api, case)
            if after is None or after.version == case.version:
                return
            case = after

    async def _step(
        self, api: HubClient, case: CaseView, action: str, **kw: object
    ) -> CaseView | None:
        after = await api.step(case, action, **kw)
        if after is not None and after.version > case.version:
            self.done[action] = self.done.get(action, 0) + 1
            log.info(
                "%s: %s case %s",
                api.username,
                action,
                case.id,
                extra={"case": case.id, "action": action, "by": api.username},
            )
        return after

    # -- the steps ---------------------------------------------------------------------------

    async def _accept(self, api: HubClient, case: CaseView) -> CaseView | None:
        return await self._step(api, case, "accept")

    async def _open(self, api: HubClient, case: CaseView) -> CaseView | None:
        return await self._step(api, case, "open")

    async def _check(self, api: HubClient, case: CaseView) -> CaseView | None:
        if self.rng.random() < self.b.p_check_fail:
            return await self._step(api, case, "check_fail", note=self.rng.choice(CHECK_FAIL_NOTES))
        return await self._step(api, case, "check_pass", note="核查通过")

    async def _evaluate(self, api: HubClient, case: CaseView) -> CaseView | None:
        ratings, weights = list(RATING_WEIGHTS), list(RATING_WEIGHTS.values())
        (rating,) = self.rng.choices(ratings, weights=weights)
        return await self._step(api, case, "evaluate", rating=rating, note=EVALUATION_NOTES[rating])

    async def _dispatch(self, api: HubClient, case: CaseView) -> CaseView | None:
        recs = await api.recommendations(case.id)
        # Not straight back to the worker who just had it returned.
        returned_by = await self._returned_by(api, case.id)
        chosen = next((r for r in recs if r["username"] != returned_by), None)
        if chosen is None:
            log.info("no worker to dispatch case %s to", case.id, extra={"case": case.id})
            return None
        return await self._step(api, case, "dispatch", assignee=chosen["username"])

    async def _returned_by(self, api: HubClient, case_id: int) -> str | None:
        detail = await api.detail(case_id)
        for entry in reversed((detail or {}).get("timeline", [])):
            if entry.get("action") == "approve_return":
                by = entry.get("detail", {}).get("returned_by")
                return str(by) if by else None
        return None

    async def _answer_request(self, api: HubClient, case: CaseView) -> CaseView | None:
        verdict = "approve" if self.rng.random() < self.b.p_approve else "reject"
        return await self._step(api, case, f"{verdict}_{case.pending}")
