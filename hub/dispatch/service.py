"""The case loop's behaviour: report and fuse, move cases through the workflow table, keep their
time limits and traffic lights on the deadline scheduler, and announce every change on the bus.

Every change is one transaction: the case row (guarded by its version), its timeline entry and
its evidence commit together; the bus hears of it after the commit. Time limits live in the
case row (``stage_yellow_at``, ``stage_deadline``, ``yellow_at``, ``deadline``), so a restart
rebuilds the scheduler from the running cases and the lights change when they would have.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.bus.base import Bus
from hub.bus.contracts import CASES, Alarm, CallChange, CaseChange, CaseSource, RecordedEvent
from hub.config import Site
from hub.config.calendar import TimeLimit
from hub.config.categories import Category, CategoryCatalogue
from hub.dispatch import metrics
from hub.dispatch.assign import Recommendation, on_call, recommend
from hub.dispatch.escalation import Place, SupervisorMap, escalated_in_stage, stage_overdue
from hub.dispatch.limits import Calendar, Clock, case_light, next_change
from hub.dispatch.models import (
    Case,
    CaseAction,
    CaseDetail,
    CasePage,
    CitizenReport,
    NewCase,
    WorkerReport,
)
from hub.dispatch.parts_service import CaseParts
from hub.dispatch.photos import InvalidPhotoError, PhotoFiles, StoredPhoto, reencode
from hub.dispatch.repo import CaseFilter, CaseRepo
from hub.dispatch.stats import GroupBy, Stats, case_stats
from hub.dispatch.workers import WorkerService
from hub.dispatch.workflow import (
    FINAL_STATES,
    STAGE_OF,
    Refused,
    Role,
    Stage,
    plan,
)
from hub.errors import ConflictError, ForbiddenError, HubError, NotFoundError
from hub.geo.distance import haversine_m
from hub.geo.grids import GridMap
from hub.store.users import UserRepo
from hub.timers import Deadlines

log = logging.getLogger(__name__)

SYSTEM = "system"
CALL_TIMELINE = {
    "created": "call_started",
    "joined": "call_joined",
    "declined": "call_declined",
    "left": "call_left",
    "feed_shared": "call_feed_shared",
    "ended": "call_ended",
    "recorded": "call_recorded",
}
"""Call changes the case timeline records, and the timeline's name for each."""
CITIZEN_REPORT = "citizen-report"
"""The ref of the evidence that keeps a citizen report's contact and media link."""
MAX_PAGE = 500

_STAMP: dict[str, str] = {
    "accepted": "accepted_at",
    "opened": "opened_at",
    "dispatched": "dispatched_at",
    "received": "received_at",
    "handled": "handled_at",
    "closed": "closed_at",
    "evaluated": "evaluated_at",
}
"""The time column each state stamps when a case enters it."""


class InvalidCaseError(HubError):
    status = 422
    title = "Invalid case"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class CaseService:
    def __init__(
        self,
        engine: AsyncEngine,
        bus: Bus,
        site: Site,
        grids: GridMap,
        users: UserRepo,
        *,
        timezone: str,
        photo_dir: Path | None = None,
        recording_dir: Path | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.repo = CaseRepo(engine)
        self.bus = bus
        self.site = site
        self.grids = grids
        self.users = users
        self.catalogue: CategoryCatalogue = site.catalogue()
        self.calendar = Calendar(site.work_calendar(), timezone)
        self.clock = clock
        self.photos = PhotoFiles(photo_dir) if photo_dir is not None else None
        self.recording_dir = recording_dir
        """Where hub.calls writes call recordings (evidence of kind ``recording``)."""
        self.supervisors = SupervisorMap(site.supervisors)
        self.workers: WorkerService | None = None
        """Where workers are and whether they are free, for recommendations (set by the app)."""
        self.timers: Deadlines[int] = Deadlines(
            self._due, clock=lambda: self.clock().timestamp(), name="case-limits"
        )
        self.parts = CaseParts(
            self.repo,
            site,
            self.catalogue,
            users,
            clock=lambda: self.clock(),
            announce=self._announce,
            check_photos=self._check_photos,
        )
        """Co-dispatch (联合派遣): the departments' parts of a case."""
        # One fusion decision at a time per category: two detections of one scene must not
        # both find no case and open two.
        self._fusing: dict[str, asyncio.Lock] = {}

    # -- life --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Rebuild the time-limit timers from the running cases, then serve them."""
        async with self.repo.read() as conn:
            running = await self.repo.running(conn)
        now = self.clock()
        late = []
        overdue = []
        for case in running:
            self._schedule(case, now)
            light = case_light(now, *self._clocks(case))
            if light != case.light:
                late.append(case.id)
            elif light == "red" and stage_overdue(case, now):
                overdue.append(case)
        if overdue:
            # Red already, and its current stage ran out while the hub was down: escalated
            # now unless that stage was escalated before.
            async with self.repo.read() as conn:
                marks = await self.repo.last_escalations(conn, [c.id for c in overdue])
            late += [c.id for c in overdue if not escalated_in_stage(c, marks.get(c.id))]
        # Lights that should have changed while the hub was down change now.
        await self._due(late, now.timestamp())
        self.timers.start()
        log.info("case loop ready", extra={"running_cases": len(running)})

    async def stop(self) -> None:
        await self.timers.stop()

    # -- reading -----------------------------------------------------------------------------

    async def get(self, case_id: int, *, viewer: str, role: Role) -> CaseDetail:
        async with self.repo.read() as conn:
            case = await self._visible(conn, case_id, viewer, role)
            timeline = await self.repo.timeline(conn, case_id)
            evidence = await self.repo.evidence(conn, case_id)
            parts = await self.parts.of_case(conn, case_id)
        cat = self.catalogue.get(case.category)
        dept = self.catalogue.department_by_id.get(case.department or "")
        return CaseDetail(
            **dict(case),
            timeline=timeline,
            evidence=evidence,
            parts=parts,
            category_name=cat.name if cat else None,
            department_name=dept.name if dept else None,
        )

    async def recommendations(
        self, case_id: int, *, viewer: str, role: Role
    ) -> list[Recommendation]:
        """The workers to send the case to, best first, with the reasons."""
        active = await self._active_workers()
        # Only the site's workers with an active account are recommended: with none, there is
        # nobody to rank, and their loads and states need not be read.
        anyone = any(w.username in active for w in self.site.workers)
        async with self.repo.read() as conn:
            case = await self._visible(conn, case_id, viewer, role)
            if not anyone:
                return []
            load = await self.repo.loads(conn)
        statuses = None
        if self.workers is not None:
            statuses = {s.username: s for s in await self.workers.statuses()}
        cat = self.catalogue.get(case.category)
        skills = cat.skills if cat is not None else []
        return recommend(
            self.site, case, active=active, load=load, statuses=statuses, skills=skills
        )

    async def stats(self, by: GroupBy, *, since: datetime | None, until: datetime | None) -> Stats:
        async with self.repo.read() as conn:
            return await case_stats(conn, by, since=since, until=until, names=self._names(by))

    def _names(self, by: GroupBy) -> dict[str, str]:
        if by == "grid":
            return {g.id: g.name for g in self.site.grids()}
        if by == "street":
            return {s.id: s.name for s in self.site.district.streets}
        if by == "department":
            return {d.id: d.name for d in self.catalogue.departments}
        if by == "worker":
            return {w.username: w.name for w in self.site.workers}
        return {c.code: c.name for c in self.catalogue.categories}

    async def _visible(self, conn: AsyncConnection, case_id: int, viewer: str, role: Role) -> Case:
        """The case, if ``viewer`` may see it (a worker: :func:`hub.dispatch.repo.visible_to`)."""
        case = await self.repo.get(conn, case_id, visible_to=viewer if role == "worker" else None)
        if case is None:
            raise NotFoundError(f"no case {case_id}")
        return case

    async def _active_workers(self) -> set[str]:
        users = await self.users.cached_list()
        return {u.username for u in users if u.role == "worker" and u.active}

    async def page(
        self, f: CaseFilter, *, viewer: str, role: Role, limit: int, before_id: int | None
    ) -> CasePage:
        if role == "worker":  # their tasks, parts and own reports
            f = dataclasses.replace(f, visible_to=viewer)
        async with self.repo.read() as conn:
            items, total = await self.repo.page(conn, f, limit=limit + 1, before_id=before_id)
        page = items[:limit]
        nxt = page[-1].id if len(items) > limit else None
        return CasePage(items=page, total=total, next_before_id=nxt)

    # -- photos ------------------------------------------------------------------------------

    async def upload_photo(self, data: bytes, *, uploader: str) -> StoredPhoto:
        """Check a photo by its content, store a clean re-encoded copy, remember who sent it."""
        if self.photos is None:
            raise InvalidPhotoError("photo storage is off")
        jpeg, w, h = await asyncio.to_thread(reencode, data)
        photo_id = await asyncio.to_thread(self.photos.save, jpeg)
        async with self.repo.begin() as conn:
            await self.repo.add_photo(conn, photo_id, uploader, self.clock(), w, h, len(jpeg))
        return StoredPhoto(photo_id, w, h, len(jpeg))

    async def photo_file(self, photo_id: str, *, viewer: str, role: Role) -> Path:
        """The file of a photo the viewer may see: the center sees all; a worker their own
        uploads and the photos of cases assigned to them."""
        if self.photos is None:
            raise NotFoundError("no such photo")
        async with self.repo.read() as conn:
            owners = await self.repo.photo_uploaders(conn, [photo_id])
            allowed = photo_id in owners and (
                role != "worker"
                or owners[photo_id] == viewer
                or await self.repo.evidence_visible_to(conn, "photo", photo_id, viewer)
            )
        if not allowed:
            raise NotFoundError("no such photo")
        return self.photos.path(photo_id)

    async def recording_file(
        self, recording_id: str, *, viewer: str, role: Role
    ) -> tuple[Path, str]:
        """The file of a call recording and its container (``mp4``, ``webm``), for the center
        and for workers who may see its case."""
        async with self.repo.read() as conn:
            found = await self.repo.evidence_of(conn, "recording", recording_id)
            allowed = found is not None and (
                role != "worker"
                or await self.repo.evidence_visible_to(conn, "recording", recording_id, viewer)
            )
        container = found[1].get("container") if found is not None else None
        if not allowed or self.recording_dir is None or container not in ("mp4", "webm"):
            raise NotFoundError("no such recording")
        path = self.recording_dir / f"{recording_id}.{container}"
        if not await asyncio.to_thread(path.is_file):
            raise NotFoundError("the recording's file is gone")
        return path, str(container)

    async def _check_photos(self, photos: Sequence[str], actor: str, role: Role) -> None:
        if not photos:
            return
        async with self.repo.read() as conn:
            owners = await self.repo.photo_uploaders(conn, photos)
        for p in photos:
            if p not in owners or (role == "worker" and owners[p] != actor):
                raise InvalidCaseError(f"no photo {p!r} uploaded by {actor}")

    # -- new cases ---------------------------------------------------------------------------

    async def worker_report(self, report: WorkerReport, *, actor: str) -> Case:
        """A patrol report (随手拍) from the field app: photo, note, position. With
        ``on_spot`` and a category that allows it, the reporter handled it there (自行处置):
        the case is dispatched to them and fed back at once, and waits for the check."""
        await self._check_photos(report.photos, actor, "worker")
        cat = self.catalogue.get(report.category)
        if cat is None:
            raise InvalidCaseError(f"no category {report.category!r}")
        if report.on_spot and not cat.minor_on_spot:
            raise InvalidCaseError(f"{cat.name} cannot be handled on the spot")
        new = NewCase(
            category=report.category,
            title=report.title,
            description=report.description,
            position=report.position,
        )
        evidence = [("photo", p, {"by": actor}) for p in report.photos]
        case = await self.report(
            new, source="worker", actor=actor, role="worker", evidence=evidence, auto=False
        )
        if not report.on_spot:
            return await self._auto(case, cat)
        for action in ("accept", "open"):
            case = await self._system_step(case, action)
        case = await self._system_step(case, "dispatch", assignee=actor, note="自行处置")
        for action in ("receive", "feedback"):
            body = CaseAction.model_validate(
                {"action": action, "version": case.version, "note": "自行处置 handled on the spot"}
            )
            case = await self.act(case.id, body, actor=actor, role="worker")
        return case

    async def citizen_report(self, report: CitizenReport, *, client: str) -> Case:
        """A citizen's report from an outside system (Open311, ``client`` names it), located
        in its grid by its position; with only an address it waits, without a grid, for the
        center to place it. The contact and the media link stay with the case as evidence."""
        cat = self.catalogue.get(report.category)
        if cat is None:
            raise InvalidCaseError(f"no category {report.category!r}")
        place: tuple[str | None, str | None, str | None] = (None, None, None)
        if report.position is not None:
            hit = self.grids.locate(report.position)
            if hit is None:
                raise InvalidCaseError("the position is outside the area this hub serves")
            place = hit.grid.id, hit.community.id, hit.street.id
        elif not report.address:
            raise InvalidCaseError("a report needs a position or an address")
        said = report.description.strip()
        first = said.splitlines()[0][:80] if said else ""
        title = f"{cat.name}: {first or report.address or cat.name_en}"
        detail: dict[str, Any] = {"client": client, "contact": report.contact.given()}
        if report.media_url:
            detail["media_url"] = report.media_url  # a link, never fetched
        actor = f"open311:{client}"
        case = await self._create(
            cat,
            source="citizen",
            source_ref=actor,
            title=title,
            description=report.description,
            position=report.position,
            place=place,
            address=report.address,
            actor=actor,
            role="system",
            evidence=[("note", CITIZEN_REPORT, detail)],
        )
        return await self._auto(case, cat)

    async def citizen_cases(
        self, f: CaseFilter, *, limit: int, offset: int
    ) -> list[tuple[Case, str | None]]:
        """Citizen-reported cases (newest first) with the media link each was reported with,
        for the public status routes."""
        f = dataclasses.replace(f, source="citizen")
        async with self.repo.read() as conn:
            items, _ = await self.repo.page(conn, f, limit=limit, before_id=None, offset=offset)
            reports = await self.repo.evidence_details(
                conn, [c.id for c in items], "note", CITIZEN_REPORT
            )
        return [(c, _text(reports.get(c.id, {}).get("media_url"))) for c in items]

    async def report(
        self,
        new: NewCase,
        *,
        source: CaseSource,
        actor: str,
        role: Role,
        evidence: Sequence[tuple[str, str, dict[str, Any]]] = (),
        auto: bool = True,
    ) -> Case:
        """A case entered by a person (operator, worker, citizen)."""
        cat = self.catalogue.get(new.category)
        if cat is None:
            raise InvalidCaseError(f"no category {new.category!r}")
        place = self._place(new.position, new.grid_id)
        case = await self._create(
            cat,
            source=source,
            source_ref=None,
            title=new.title,
            description=new.description,
            position=new.position,
            place=place,
            address=new.address,
            actor=actor,
            role=role,
            evidence=list(evidence),
        )
        return await self._auto(case, cat) if auto else case

    async def on_detection(self, ev: RecordedEvent) -> Case | None:
        """A recorded video detection: join the running case of its kind nearby, or open one."""
        # Intrusions and loitering are announced at their start and again at their end: the
        # start opens or joins the case; the end only completes the stored event.
        if ev.end is not None and ev.type != "line_crossing":
            return None
        cat = self.catalogue.for_video(ev.type)
        cam = self.site.camera_by_id.get(ev.camera_id)
        if cat is None or cam is None:
            return None
        detail = {
            "camera_id": cam.id,
            "camera_name": cam.name,
            "type": ev.type,
            "zone_id": ev.zone_id,
            "line_id": ev.line_id,
            "snapshot": ev.snapshot,
            "start": ev.start.isoformat(),
        }
        title = f"{cat.name}: {cam.name}"
        return await self._fuse(
            cat,
            source="video",
            source_ref=str(ev.id),
            kind="detection",
            at=ev.start,
            # A drone's sighting is placed where the drone was, not where it took off.
            position=(ev.position[0], ev.position[1])
            if ev.position
            else (cam.position[0], cam.position[1]),
            grid_id=ev.grid_id if ev.position else cam.grid,
            title=title,
            detail=detail,
        )

    async def on_call(self, change: CallChange) -> None:
        """A dispatch call about a case: its start, who joined, declined or left, the feeds
        shared into it and its end go on the case's timeline (the call runs in hub.calls)."""
        call = change.call
        action = CALL_TIMELINE.get(change.action)
        if call.case_id is None or action is None or change.detail == "reconnected":
            return
        roles = {p.username: p.role for p in call.participants}
        actor = change.actor or SYSTEM
        detail: dict[str, Any] = {"call_id": call.id, "title": call.title}
        if change.detail:
            detail["detail"] = change.detail
        if change.action == "ended":
            detail["participants"] = [p.username for p in call.participants
                                      if p.joined_at is not None]  # fmt: skip
        if change.action == "recorded":
            detail["recordings"] = [r.id for r in call.recordings]
        added = 0
        async with self.repo.begin() as conn:
            case = await self.repo.get(conn, call.case_id)
            if case is None:
                return
            if change.action == "recorded":
                if await self.repo.case_of_evidence(conn, "recording", call.recordings[0].id):
                    return  # a redelivery
                now = datetime.now(UTC)
                for rec in call.recordings:
                    rec_detail = rec.model_dump(mode="json", exclude={"id"})
                    rec_detail["call_id"] = call.id
                    added += await self.repo.add_evidence(
                        conn, case.id, ts=now, kind="recording", ref=rec.id, detail=rec_detail
                    )
                await self.repo.count_evidence(conn, case.id, added)
                case = await self.repo.get(conn, case.id) or case
            # Not a change of the case's course: its version stays, like a piece of evidence.
            await self.repo.log(
                conn,
                case.id,
                ts=datetime.now(UTC),
                action=action,
                actor=actor,
                role=roles.get(actor, "system"),
                from_state=case.state,
                to_state=case.state,
                version=case.version,
                detail=detail,
            )
        if added:
            await self._announce(case, "evidence", SYSTEM)

    async def on_alarm(self, alarm: Alarm) -> Case | None:
        """A device alarm, when raised or repeated while active."""
        if alarm.state != "active":
            return None
        cat = self.catalogue.for_alarm_rule(alarm.rule_id)
        if cat is None:
            return None
        detail = {
            "device_id": alarm.device_id,
            "device_name": alarm.device_name,
            "rule_id": alarm.rule_id,
            "rule_name": alarm.rule_name,
            "severity": alarm.severity,
            "value": alarm.value,
            "cameras": [c.get("id") for c in alarm.cameras][:8],
        }
        return await self._fuse(
            cat,
            source="alarm",
            source_ref=str(alarm.id),
            kind="alarm",
            at=alarm.updated_at,
            position=alarm.position,
            grid_id=alarm.grid_id,
            title=f"{cat.name}: {alarm.device_name}",
            detail=detail,
        )

    async def _fuse(
        self,
        cat: Category,
        *,
        source: CaseSource,
        source_ref: str,
        kind: str,
        at: datetime,
        position: tuple[float, float],
        grid_id: str | None,
        title: str,
        detail: dict[str, Any],
    ) -> Case:
        lock = self._fusing.setdefault(cat.code, asyncio.Lock())
        async with lock:
            now = self.clock()
            since = min(at, now) - timedelta(seconds=cat.fusion.window_seconds)
            fused: Case | None = None
            added = False
            async with self.repo.begin() as conn:
                held = await self.repo.case_of_evidence(conn, kind, source_ref)
                seen = None if held is None else await self.repo.get(conn, held)
                if seen is not None:  # a redelivery: nothing new
                    return seen
                for c in await self.repo.fusion_candidates(conn, cat.code, since):
                    if c.position is None:
                        continue
                    if haversine_m(c.position, position) <= cat.fusion.radius_m:
                        added = await self.repo.add_evidence(
                            conn, c.id, ts=now, kind=kind, ref=source_ref, detail=detail
                        )
                        if added:
                            await self.repo.touch(conn, c.id, now)
                        fused = await self.repo.get(conn, c.id)
                        break
            if fused is not None:
                if added:
                    metrics.FUSED.labels(source).inc()
                    await self._announce(fused, "evidence", SYSTEM)
                return fused
            place = self._place(position, grid_id)
            case = await self._create(
                cat,
                source=source,
                source_ref=source_ref,
                title=title,
                description="",
                position=position,
                place=place,
                address=None,
                actor=SYSTEM,
                role="system",
                evidence=[(kind, source_ref, detail)],
            )
        return await self._auto(case, cat)

    def _place(
        self, position: tuple[float, float] | list[float] | None, grid_id: str | None
    ) -> tuple[str | None, str | None, str | None]:
        """(grid, community, street) of a case: the grid holding its position, else the grid
        it names."""
        if position is not None:
            hit = self.grids.locate(position)
            if hit is not None:
                return hit.grid.id, hit.community.id, hit.street.id
        if grid_id is not None:
            path = self.site.grid_path.get(grid_id)
            if path is None:
                raise InvalidCaseError(f"no grid {grid_id!r}")
            street, community, grid = path
            return grid.id, community.id, street.id
        if position is None:
            raise InvalidCaseError("a case needs a position or a grid")
        return None, None, None

    async def _create(
        self,
        cat: Category,
        *,
        source: CaseSource,
        source_ref: str | None,
        title: str,
        description: str,
        position: tuple[float, float] | list[float] | None,
        place: tuple[str | None, str | None, str | None],
        address: str | None,
        actor: str,
        role: Role,
        evidence: list[tuple[str, str, dict[str, Any]]],
    ) -> Case:
        now = self.clock()
        stage = self.calendar.stage_clock(cat, "accept", now)
        total = self.calendar.total_clock(cat, now)
        values: dict[str, Any] = {
            "version": 1,
            "category": cat.code,
            "kind": cat.kind,
            "title": title[:200],
            "description": description,
            "source": source,
            "source_ref": source_ref,
            "state": "reported",
            "pending": None,
            "grid_id": place[0],
            "community_id": place[1],
            "street_id": place[2],
            "position": None if position is None else (float(position[0]), float(position[1])),
            "address": address,
            "department": cat.department,
            "reporter": actor,
            "assignee": None,
            "created_at": now,
            "updated_at": now,
            "yellow_at": total.yellow_at,
            "deadline": total.due,
            "stage": "accept",
            "stage_started_at": now,
            "stage_yellow_at": stage.yellow_at,
            "stage_deadline": stage.due,
            "light": case_light(now, stage, total),
            "escalation": 0,
            "evidence_count": len(evidence),
            "last_evidence_at": now,
            "rework_count": 0,
        }
        async with self.repo.begin() as conn:
            case = await self.repo.insert_returning(conn, values)
            case_id = case.id
            await self.repo.log(
                conn,
                case_id,
                ts=now,
                action="created",
                actor=actor,
                role=role,
                from_state=None,
                to_state="reported",
                version=1,
                detail={"source": source, "category": cat.code},
            )
            for kind, ref, detail in evidence:
                await self.repo.add_evidence(
                    conn, case_id, ts=now, kind=kind, ref=ref, detail=detail
                )
        metrics.CREATED.labels(source, cat.code).inc()
        self._schedule(case, now)
        await self._announce(case, "created", actor)
        return case

    async def _auto(self, case: Case, cat: Category) -> Case:
        """Categories with automatic dispatch are accepted and opened by the system at once
        (受理, 立案) and sent to the grid's own worker when it has one with an active account;
        otherwise they wait, opened, for an operator to dispatch them."""
        if not cat.auto_dispatch or case.state != "reported":
            return case
        for action in ("accept", "open"):
            case = await self._system_step(case, action)
        recs = await self.recommendations(case.id, viewer=SYSTEM, role="system")
        if recs and recs[0].rank == 0 and on_call(recs[0].state):
            case = await self._system_step(case, "dispatch", assignee=recs[0].username)
        return case

    async def _system_step(self, case: Case, action: str, **kw: Any) -> Case:
        body = CaseAction.model_validate({"action": action, "version": case.version, **kw})
        return await self.act(case.id, body, actor=SYSTEM, role="system")

    # -- the loop ----------------------------------------------------------------------------

    async def act(self, case_id: int, body: CaseAction, *, actor: str, role: Role) -> Case:
        """Take one step of the loop, as the transition table allows; 409 when the case moved
        on since ``body.version``."""
        now = self.clock()
        if body.action in ("dispatch", "check_fail") and body.assignee is not None:
            await self._check_worker(body.assignee)
        if body.action == "feedback":
            await self._check_photos(body.photos, actor, role)
        async with self.repo.begin() as conn:
            case = await self._visible(conn, case_id, actor, role)
            if case.version != body.version:
                raise ConflictError(
                    f"case {case_id} changed since version {body.version} (now {case.version})"
                )
            try:
                step = plan(
                    body.action,
                    case.state,  # type: ignore[arg-type]
                    role=role,
                    actor=actor,
                    assignee=case.assignee,
                    pending=case.pending,
                )
            except Refused as exc:
                if exc.status == 403:
                    raise ForbiddenError(str(exc)) from exc
                raise ConflictError(str(exc)) from exc
            if body.action == "check_pass":
                await self.parts.check_closable(conn, case_id)
            asked = None
            if body.action == "approve_extension":
                asked = await self.repo.last_detail(conn, case_id, "request_extension")
            values, detail = self._effects(case, body, step.target, now, asked)
            values["state"] = step.target
            values["pending"] = step.pending
            values["updated_at"] = now
            if step.target not in FINAL_STATES:
                # A new stage starts a new clock: the light is the new clocks', now.
                merged = case.model_copy(update=values)
                values["light"] = case_light(now, *self._clocks(merged))
            after = await self.repo.update_returning(conn, case_id, case.version, values)
            if after is None:
                raise ConflictError(f"case {case_id} changed meanwhile; reload it")
            await self.repo.log(
                conn,
                case_id,
                ts=now,
                action=body.action,
                actor=actor,
                role=role,
                from_state=case.state,
                to_state=step.target,
                version=case.version + 1,
                detail=detail,
            )
            for photo in body.photos if body.action == "feedback" else ():
                await self.repo.add_evidence(
                    conn, case_id, ts=now, kind="photo", ref=photo, detail={"by": actor}
                )
        metrics.TRANSITIONS.labels(body.action).inc()
        self._schedule(after, now)
        await self._announce(after, body.action, actor, notify=_concerned(case, after, body.action))
        return after

    def _effects(
        self,
        case: Case,
        body: CaseAction,
        target: str,
        now: datetime,
        asked: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Column values and timeline detail of a step, beyond state and pending."""
        values: dict[str, Any] = {}
        detail: dict[str, Any] = {}
        if body.note:
            detail["note"] = body.note
        action = body.action
        if action in ("dispatch", "check_fail"):
            assignee = body.assignee or case.assignee
            if assignee is None:
                raise InvalidCaseError(f"{action} needs an assignee")
            values["assignee"] = assignee
            detail["assignee"] = assignee
        if action == "check_fail":
            values["rework_count"] = case.rework_count + 1
        if action == "approve_return":
            values["assignee"] = None
            detail["returned_by"] = case.assignee
        if action == "evaluate":
            if body.rating is None:
                raise InvalidCaseError("evaluate needs a rating (1-5)")
            values["rating"] = body.rating
            detail["rating"] = body.rating
        if action == "feedback" and body.photos:
            detail["photos"] = list(body.photos)
            values["evidence_count"] = case.evidence_count + len(body.photos)
        if action == "request_extension":
            detail["extension"] = body.extension
        if action == "approve_extension":
            more = TimeLimit.model_validate((asked or {}).get("extension", "1 working_days"))
            detail["extension"] = str(more)
            if case.stage_yellow_at is not None and case.stage_deadline is not None:
                clock = self.calendar.extended(
                    Clock(case.stage_yellow_at, case.stage_deadline), more
                )
                values["stage_yellow_at"] = clock.yellow_at
                values["stage_deadline"] = clock.due
                detail["stage_deadline"] = clock.due.isoformat()
        stamp = _STAMP.get(target)
        if stamp is not None and target != case.state:
            values[stamp] = now
        stage: Stage | None = STAGE_OF.get(target)  # type: ignore[call-overload]
        if target in FINAL_STATES:
            values.update(stage=None, stage_started_at=None)
            values.update(stage_yellow_at=None, stage_deadline=None)
        elif target != case.state and (stage != case.stage or action == "check_fail"):
            cat = self.catalogue.category(case.category)
            clock = self.calendar.stage_clock(cat, stage, now)  # type: ignore[arg-type]
            values.update(stage=stage, stage_started_at=now)
            values.update(stage_yellow_at=clock.yellow_at, stage_deadline=clock.due)
        return values, detail

    async def _check_worker(self, username: str) -> None:
        user = await self.users.cached(username)
        if user is None or not user.active or user.role != "worker":
            raise InvalidCaseError(f"{username!r} is not an active worker")

    # -- time limits -------------------------------------------------------------------------

    def _clocks(self, case: Case) -> tuple[Clock | None, Clock | None]:
        stage = (
            Clock(case.stage_yellow_at, case.stage_deadline)
            if case.stage_yellow_at is not None and case.stage_deadline is not None
            else None
        )
        total = (
            Clock(case.yellow_at, case.deadline)
            if case.yellow_at is not None and case.deadline is not None
            else None
        )
        return stage, total

    def _schedule(self, case: Case, now: datetime) -> None:
        if case.state in FINAL_STATES:
            self.timers.cancel(case.id)
            return
        when = next_change(now, *self._clocks(case))
        if when is None:
            self.timers.cancel(case.id)
        else:
            # Replace, not keep the earlier: an extension moves a deadline later.
            self.timers.cancel(case.id)
            self.timers.schedule(case.id, when.timestamp())

    async def _due(self, case_ids: list[int], now_ts: float) -> None:
        now = datetime.fromtimestamp(now_ts, UTC)
        for case_id in case_ids:
            try:
                await self._relight(case_id, now)
            except Exception:
                log.exception("updating the light of case %s failed", case_id)

    async def _relight(self, case_id: int, now: datetime) -> None:
        """Bring the case's light up to ``now``. A case turning red, or red already when its
        current stage runs out too, is escalated (督办) once per stage: one level more, its
        supervisors notified (:mod:`hub.dispatch.escalation`)."""
        for _ in range(5):  # a concurrent step moved the version: read again
            async with self.repo.begin() as conn:
                case = await self.repo.get(conn, case_id)
                if case is None or case.state in FINAL_STATES:
                    return
                stage, total = self._clocks(case)
                light = case_light(now, stage, total)
                escalate = light == "red" and (light != case.light or stage_overdue(case, now))
                if escalate:
                    marks = await self.repo.last_escalations(conn, [case_id])
                    escalate = not escalated_in_stage(case, marks.get(case_id))
                if light == case.light and not escalate:
                    break
                values: dict[str, Any] = {"light": light, "updated_at": now}
                detail: dict[str, Any] = {"light": light, "stage": case.stage}
                notify: list[str] = []
                if escalate:
                    level = case.escalation + 1
                    route = self.supervisors.route(
                        Place(case.grid_id, case.community_id, case.street_id), level
                    )
                    notify = list(route.usernames)
                    values["escalation"] = level
                    detail.update(
                        escalation=level,
                        stage_started_at=_iso(case.stage_started_at),
                        scope=route.scope,
                        notified=notify,
                    )
                updated = await self.repo.update_returning(conn, case_id, case.version, values)
                if updated is None:
                    continue
                await self.repo.log(
                    conn,
                    case_id,
                    ts=now,
                    action="supervise" if escalate else "light",
                    actor=SYSTEM,
                    role="system",
                    from_state=case.state,
                    to_state=case.state,
                    version=case.version + 1,
                    detail=detail,
                )
                after = updated
            if light != case.light:
                metrics.LIGHTS.labels(light).inc()
            if escalate:
                metrics.ESCALATIONS.labels(str(min(after.escalation, 3))).inc()
                log.info(
                    "case %s escalated to level %d, notified %s",
                    case_id,
                    after.escalation,
                    ", ".join(notify) or "nobody (no supervisor in the site file)",
                )
            await self._announce(after, "supervise" if escalate else "light", SYSTEM, notify=notify)
            case = after
            break
        else:
            log.warning("case %s kept changing; its light is updated at its next change", case_id)
            return
        self._schedule(case, now)

    # -- bus ---------------------------------------------------------------------------------

    async def _announce(
        self, case: Case, action: str, actor: str, *, notify: list[str] | None = None
    ) -> None:
        try:
            await self.bus.publish(
                CASES, CaseChange(case=case, action=action, actor=actor, notify=notify or [])
            )
        except Exception:
            # Stored already; the wall catches up on its next reload.
            log.exception("announcing case %s failed", case.id)


def _text(v: object) -> str | None:
    return v if isinstance(v, str) else None


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def _concerned(before: Case, after: Case, action: str) -> list[str]:
    """The workers a step concerns: the one it sends the case to, and the one it takes the
    case from (a return approved, a rework sent to someone else), whose app then drops it."""
    out = []
    if action in ("dispatch", "check_fail") and after.assignee:
        out.append(after.assignee)
    if before.assignee and before.assignee != after.assignee:
        out.append(before.assignee)
    return out
