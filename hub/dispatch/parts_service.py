"""Co-dispatch behaviour (联合派遣): send a case to several departments and move each
department's part through :data:`hub.dispatch.parts.PART_TRANSITIONS`.

Each step is one transaction on the case: the part row, the case's version (so a wall holding an
older version gets 409, as for any other step) and the case's timeline entry commit together;
the bus hears of it after the commit, with the part's assignee in ``notify`` so their field app
rings. The case service owns the case loop and asks :meth:`CaseParts.check_closable` before a
case passes its check.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.config import Site
from hub.config.categories import CategoryCatalogue
from hub.dispatch import metrics
from hub.dispatch.models import Case
from hub.dispatch.parts import (
    MAX_PARTS,
    STAMP,
    CasePart,
    CoDispatch,
    CoDispatchResult,
    PartStep,
    PartStepResult,
    plan_co_dispatch,
    plan_part,
)
from hub.dispatch.parts_repo import PartRepo
from hub.dispatch.repo import CaseRepo
from hub.dispatch.workflow import OPEN_STATES, Refused, Role
from hub.errors import ConflictError, ForbiddenError, HubError, NotFoundError
from hub.store.users import UserRepo


class InvalidPartError(HubError):
    status = 422
    title = "Invalid co-dispatch"


class Announce(Protocol):
    def __call__(
        self, case: Case, action: str, actor: str, *, notify: list[str] | None = None
    ) -> Awaitable[None]: ...


PhotoCheck = Callable[[Sequence[str], str, Role], Awaitable[None]]


def _refused(exc: Refused) -> HubError:
    return ForbiddenError(str(exc)) if exc.status == 403 else ConflictError(str(exc))


class CaseParts:
    """The parts of co-dispatched cases (see :mod:`hub.dispatch.parts`)."""

    def __init__(
        self,
        cases: CaseRepo,
        site: Site,
        catalogue: CategoryCatalogue,
        users: UserRepo,
        *,
        clock: Callable[[], datetime],
        announce: Announce,
        check_photos: PhotoCheck,
    ) -> None:
        self.cases = cases
        self.repo = PartRepo()
        self.site = site
        self.catalogue = catalogue
        self.users = users
        self.clock = clock
        self.announce = announce
        self.check_photos = check_photos

    # -- reading ---------------------------------------------------------------------------

    async def of_case(self, conn: AsyncConnection, case_id: int) -> list[CasePart]:
        return [self._named(p) for p in await self.repo.of_case(conn, case_id)]

    async def check_closable(self, conn: AsyncConnection, case_id: int) -> None:
        """409 while a part of the case is still open: the case cannot pass its check."""
        still = await self.repo.open_of_case(conn, case_id)
        if still:
            which = ", ".join(f"{p.department} #{p.id} ({p.state})" for p in still)
            raise ConflictError(
                f"会办部门未办结 {len(still)} co-dispatched part(s) still open: {which}; "
                "close or return them first"
            )

    def _named(self, part: CasePart) -> CasePart:
        dept = self.catalogue.department_by_id.get(part.department)
        return part.model_copy(update={"department_name": dept.name if dept else None})

    # -- steps -----------------------------------------------------------------------------

    async def co_dispatch(
        self, case_id: int, body: CoDispatch, *, actor: str, role: Role
    ) -> CoDispatchResult:
        """联合派遣: one new part per named department, each to its worker when given."""
        try:
            plan_co_dispatch(None, role=role)  # the role first, before anything is read
        except Refused as exc:
            raise _refused(exc) from exc
        for t in body.parts:
            if t.department not in self.catalogue.department_by_id:
                raise InvalidPartError(f"no department {t.department!r}")
            if t.assignee is not None:
                await self._check_worker(t.assignee, t.department)
        now = self.clock()
        async with self.cases.begin() as conn:
            case = await self._case(conn, case_id, body.version, actor, role)
            try:
                plan_co_dispatch(case.state, role=role)
            except Refused as exc:
                raise _refused(exc) from exc
            live = [p for p in await self.repo.of_case(conn, case_id) if p.state != "returned"]
            taken = {p.department for p in live}
            again = [t.department for t in body.parts if t.department in taken]
            if again:
                raise ConflictError(f"already co-dispatched to {', '.join(again)}")
            if len(live) + len(body.parts) > MAX_PARTS:
                raise ConflictError(f"a case has at most {MAX_PARTS} departments' parts")
            created: list[CasePart] = []
            for t in body.parts:
                part_id = await self.repo.insert(
                    conn,
                    {
                        "case_id": case_id,
                        "department": t.department,
                        "assignee": t.assignee,
                        "state": "dispatched",
                        "note": t.note,
                        "feedback": None,
                        "photos": [],
                        "rework_count": 0,
                        "dispatched_by": actor,
                        "dispatched_at": now,
                        "updated_at": now,
                    },
                )
                part = await self.repo.get(conn, case_id, part_id)
                assert part is not None
                created.append(self._named(part))
            detail: dict[str, Any] = {
                "parts": [
                    {"part": p.id, "department": p.department, "assignee": p.assignee}
                    for p in created
                ]
            }
            if body.note:
                detail["note"] = body.note
            after = await self._bump(conn, case, now, "co_dispatch", actor, role, detail)
        metrics.TRANSITIONS.labels("co_dispatch").inc()
        notify = sorted({p.assignee for p in created if p.assignee})
        await self.announce(after, "co_dispatch", actor, notify=notify)
        return CoDispatchResult(case=after, parts=created)

    async def step(
        self, case_id: int, part_id: int, body: PartStep, *, actor: str, role: Role
    ) -> PartStepResult:
        """One step of a department's part, as the parts' table allows."""
        if body.action == "return" and not body.note:
            raise InvalidPartError("a return needs a reason (note)")
        if body.action == "assign" and body.assignee is None:
            raise InvalidPartError("assign needs an assignee")
        if body.action == "feedback":
            await self.check_photos(body.photos, actor, role)
        elif body.photos:
            raise InvalidPartError("photos go with a feedback")
        if body.assignee is not None and body.action not in ("assign", "rework"):
            raise InvalidPartError(f"{body.action} takes no assignee")
        now = self.clock()
        async with self.cases.begin() as conn:
            case = await self._case(conn, case_id, body.version, actor, role)
            part = await self.repo.get(conn, case_id, part_id)
            if part is None:
                raise NotFoundError(f"no part {part_id} of case {case_id}")
            if case.state not in OPEN_STATES:
                raise ConflictError(f"case {case_id} is {case.state}")
            try:
                target = plan_part(
                    body.action, part.state, role=role, actor=actor, assignee=part.assignee
                )
            except Refused as exc:
                raise _refused(exc) from exc
            if body.assignee is not None:
                await self._check_worker(body.assignee, part.department)
            values: dict[str, Any] = {"state": target, "updated_at": now}
            detail: dict[str, Any] = {
                "part": part.id,
                "department": part.department,
                "from": part.state,
                "to": target,
            }
            if body.note:
                detail["note"] = body.note
            stamp = STAMP.get(target)
            if stamp is not None:
                values[stamp] = now
            if body.action == "feedback":
                values["feedback"] = body.note
                if body.photos:
                    values["photos"] = [*part.photos, *body.photos]
                    detail["photos"] = list(body.photos)
            if body.action == "rework":
                values["rework_count"] = part.rework_count + 1
            new_assignee = body.assignee if body.assignee is not None else part.assignee
            if new_assignee != part.assignee:
                values["assignee"] = new_assignee
            if new_assignee is not None:
                detail["assignee"] = new_assignee
            if not await self.repo.update(conn, part.id, part.state, values):
                raise ConflictError(f"part {part_id} changed meanwhile; reload the case")
            added = 0
            for photo in body.photos:
                ok = await self.cases.add_evidence(
                    conn,
                    case_id,
                    ts=now,
                    kind="photo",
                    ref=photo,
                    detail={"by": actor, "part": part.id, "department": part.department},
                )
                added += int(ok)
            action = f"part_{body.action}"
            extra = {"evidence_count": case.evidence_count + added} if added else {}
            after = await self._bump(conn, case, now, action, actor, role, detail, extra)
            moved = await self.repo.get(conn, case_id, part_id)
            assert moved is not None
        metrics.TRANSITIONS.labels(action).inc()
        # The part's worker hears every step of it; one it was taken from hears it too.
        notify = [u for u in (moved.assignee, part.assignee) if u]
        await self.announce(after, action, actor, notify=sorted(set(notify)))
        return PartStepResult(case=after, part=self._named(moved))

    # -- helpers ---------------------------------------------------------------------------

    async def _case(
        self, conn: AsyncConnection, case_id: int, version: int, actor: str, role: Role
    ) -> Case:
        case = await self.cases.get(conn, case_id)
        if case is None or (
            role == "worker" and not await self.cases.worker_may_see(conn, case_id, actor)
        ):
            raise NotFoundError(f"no case {case_id}")
        if case.version != version:
            raise ConflictError(
                f"case {case_id} changed since version {version} (now {case.version})"
            )
        return case

    async def _bump(
        self,
        conn: AsyncConnection,
        case: Case,
        now: datetime,
        action: str,
        actor: str,
        role: Role,
        detail: dict[str, Any],
        extra: dict[str, Any] | None = None,
    ) -> Case:
        """The case's side of a part step: its version moves on, its timeline records it."""
        values = {"updated_at": now, **(extra or {})}
        if not await self.cases.update(conn, case.id, case.version, values):
            raise ConflictError(f"case {case.id} changed meanwhile; reload it")
        await self.cases.log(
            conn,
            case.id,
            ts=now,
            action=action,
            actor=actor,
            role=role,
            from_state=case.state,
            to_state=case.state,
            version=case.version + 1,
            detail=detail,
        )
        after = await self.cases.get(conn, case.id)
        assert after is not None
        return after

    async def _check_worker(self, username: str, department: str) -> None:
        """An active worker account of a worker the site file puts in ``department``."""
        user = await self.users.get(username)
        worker = next((w for w in self.site.workers if w.username == username), None)
        if user is None or not user.active or user.role != "worker" or worker is None:
            raise InvalidPartError(f"{username!r} is not an active worker")
        if worker.department != department:
            raise InvalidPartError(f"{username!r} is not a worker of {department}")
