"""The case loop's API: cases (list, detail, new, workflow steps, co-dispatched parts) and the
category catalogue.

Thin: parse and bound the input, call :class:`~hub.dispatch.service.CaseService`, return typed
models. Who may take which step is the workflow table's business, not the routes'.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import FileResponse, PlainTextResponse
from pydantic import BaseModel

from hub.bus.contracts import CaseSource, Light
from hub.config.categories import Category, Department
from hub.dispatch.assign import Recommendation
from hub.dispatch.models import (
    Case,
    CaseAction,
    CaseDetail,
    CasePage,
    NewCase,
    PhotoInfo,
    WorkerReport,
)
from hub.dispatch.parts import CoDispatch, CoDispatchResult, PartStep, PartStepResult
from hub.dispatch.photos import PHOTO_ID
from hub.dispatch.repo import CaseFilter
from hub.dispatch.service import MAX_PAGE, CaseService
from hub.dispatch.stats import GroupBy, Stats, to_csv
from hub.dispatch.workflow import CaseState, PendingRequest
from hub.errors import HubError
from hub.store.users import User
from hub.web.auth import require_roles
from hub.web.params import MAX_ROW_ID, FilterText, Time
from hub.web.state import hub_state

router = APIRouter(prefix="/api", tags=["cases"])
Viewer = Annotated[User, Depends(require_roles("admin", "operator", "supervisor", "worker"))]
Reporter = Annotated[User, Depends(require_roles("admin", "operator"))]
Worker = Annotated[User, Depends(require_roles("worker"))]
Dispatcher = Annotated[User, Depends(require_roles("admin", "operator", "supervisor"))]
CaseId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


class CasesUnavailableError(HubError):
    status = 503
    title = "Case loop unavailable"


class Catalogue(BaseModel):
    departments: list[Department]
    categories: list[Category]


def cases(request: Request) -> CaseService:
    svc = hub_state(request).cases
    if svc is None:
        raise CasesUnavailableError("the case loop is not running")
    return svc


Cases = Annotated[CaseService, Depends(cases)]


@router.get("/cases")
async def list_cases(
    svc: Cases,
    user: Viewer,
    state: Annotated[list[CaseState | Literal["open"]] | None, Query(max_length=12)] = None,
    category: Annotated[str | None, Query(pattern=r"^\d{2}\.\d{2}$")] = None,
    grid_id: FilterText | None = None,
    street_id: FilterText | None = None,
    department: FilterText | None = None,
    assignee: FilterText | None = None,
    light: Light | None = None,
    source: CaseSource | None = None,
    pending: PendingRequest | None = None,
    since: Time | None = None,
    until: Time | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> CasePage:
    """Newest first, filtered and paged on the server; ``open`` is every running state;
    ``pending`` finds the cases with an extension or return request waiting for an answer. A
    worker sees only the cases assigned to them, those with a co-dispatched part assigned to
    them, and the ones they reported themselves."""
    f = CaseFilter(
        state=tuple(state or ()),
        category=category,
        grid_id=grid_id,
        street_id=street_id,
        department=department,
        assignee=assignee,
        light=light,
        source=source,
        pending=pending,
        since=since,
        until=until,
    )
    return await svc.page(f, viewer=user.username, role=user.role, limit=limit, before_id=before_id)


@router.get("/cases/{case_id}")
async def get_case(svc: Cases, user: Viewer, case_id: CaseId) -> CaseDetail:
    return await svc.get(case_id, viewer=user.username, role=user.role)


@router.get("/cases/{case_id}/recommendations")
async def recommendations(svc: Cases, user: Dispatcher, case_id: CaseId) -> list[Recommendation]:
    """Whom to send the case to, best first: the grid's own workers, then the same community,
    street, department, fewest running cases; each with its reasons."""
    return await svc.recommendations(case_id, viewer=user.username, role=user.role)


@router.post("/cases", status_code=201)
async def new_case(svc: Cases, user: Reporter, body: NewCase) -> Case:
    """A case entered at the center (operator entry, a phoned-in report)."""
    return await svc.report(body, source="operator", actor=user.username, role=user.role)


@router.post("/cases/{case_id}/actions")
async def act(svc: Cases, user: Viewer, case_id: CaseId, body: CaseAction) -> Case:
    """One step of the loop (受理 accept, 立案 open, 作废 void, 派遣 dispatch, 签收 receive,
    arrive, 处置反馈 feedback, 核查 check_pass / check_fail (返工), 评价 evaluate, and the
    extension and return requests and their approvals). 409 when ``version`` is stale or the
    case's state does not allow the step; 403 when the role or person may not take it."""
    return await svc.act(case_id, body, actor=user.username, role=user.role)


@router.post("/cases/{case_id}/parts", status_code=201)
async def co_dispatch(
    svc: Cases, user: Dispatcher, case_id: CaseId, body: CoDispatch
) -> CoDispatchResult:
    """联合派遣 Co-dispatch: send the case (opened, or being handled) to 1-8 departments at
    once, each with an optional worker of that department and an instruction. Each department's
    part is then followed to its own close, and the case cannot pass its check while one is
    open. 422 for an unknown department or a worker not of it; 409 when ``version`` is stale,
    the case's state does not allow it or a department has a part already."""
    return await svc.parts.co_dispatch(case_id, body, actor=user.username, role=user.role)


@router.post("/cases/{case_id}/parts/{part_id}/actions")
async def part_step(
    svc: Cases, user: Viewer, case_id: CaseId, part_id: CaseId, body: PartStep
) -> PartStepResult:
    """One step of a department's part: 签收 receive, 处置反馈 feedback (with photos), 回退
    return (with a reason) by the part's worker (or recorded by the center); 核查 close or 返工
    rework by the center; assign to another worker of the department. ``version`` is the
    case's: every step moves it on. 409 when stale or the part's state does not allow it; 403
    when the role or person may not."""
    return await svc.parts.step(case_id, part_id, body, actor=user.username, role=user.role)


@router.post("/reports", status_code=201)
async def worker_report(svc: Cases, user: Worker, body: WorkerReport) -> Case:
    """A patrol report from the field app (随手拍). Upload its photos first (POST
    /api/photos); with ``on_spot`` the reporter handled it there (自行处置) and it waits for
    the check."""
    return await svc.worker_report(body, actor=user.username)


@router.post(
    "/photos",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                "image/png": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def upload_photo(request: Request, svc: Cases, user: Viewer) -> PhotoInfo:
    """A JPEG or PNG photo as the request body (at most 10 MB, 8192 px a side). It is checked
    by its content and stored re-encoded (EXIF dropped); the answer's ``id`` goes into a
    feedback or report."""
    data = await request.body()
    stored = await svc.upload_photo(data, uploader=user.username)
    return PhotoInfo(id=stored.id, width=stored.width, height=stored.height, size=stored.size)


@router.get(
    "/photos/{photo_id}",
    response_class=FileResponse,
    responses={200: {"description": "The photo (JPEG)", "content": {"image/jpeg": {}}}},
)
async def get_photo(
    svc: Cases, user: Viewer, photo_id: Annotated[str, Path(pattern=PHOTO_ID)]
) -> FileResponse:
    path = await svc.photo_file(photo_id, viewer=user.username, role=user.role)
    return FileResponse(path, media_type="image/jpeg")


RECORDING_ID = r"^[0-9a-f]{32}$"
"""How hub.calls.recording names a recording (``secrets.token_hex(16)``)."""


@router.get(
    "/recordings/{recording_id}",
    response_class=FileResponse,
    responses={
        200: {
            "description": "A call recording (MP4: H.264 and Opus; WebM: VP8 and Opus)",
            "content": {"video/mp4": {}, "video/webm": {}},
        },
        206: {
            "description": "The byte range asked for (``Range: bytes=...``)",
            "content": {"video/mp4": {}, "video/webm": {}, "multipart/byteranges": {}},
        },
        416: {"description": "No byte of the range asked for is in the recording"},
    },
)
async def get_recording(
    svc: Cases, user: Viewer, recording_id: Annotated[str, Path(pattern=RECORDING_ID)]
) -> FileResponse:
    """One stream of a call about a case (a participant, a shared camera), recorded as it was
    forwarded: evidence of kind ``recording``. The center sees all; a worker those of cases
    they may see. Supports ``Range``."""
    path, container = await svc.recording_file(recording_id, viewer=user.username, role=user.role)
    return FileResponse(path, media_type=f"video/{container}", headers={"Cache-Control": "private"})


@router.get("/stats/cases")
async def case_stats(
    svc: Cases,
    _user: Dispatcher,
    by: GroupBy = "street",
    since: Time | None = None,
    until: Time | None = None,
) -> Stats:
    """Supervision figures (结案率, 按期结案率, 返工率, mean times) of the cases reported in
    [since, until), by grid, street, department, worker or category, with the total."""
    return await svc.stats(by, since=since, until=until)


@router.get(
    "/stats/cases.csv",
    response_class=PlainTextResponse,
    responses={200: {"description": "The same figures as CSV", "content": {"text/csv": {}}}},
)
async def case_stats_csv(
    svc: Cases,
    _user: Dispatcher,
    by: GroupBy = "street",
    since: Time | None = None,
    until: Time | None = None,
) -> PlainTextResponse:
    stats = await svc.stats(by, since=since, until=until)
    return PlainTextResponse(
        to_csv([*stats.rows, stats.total]),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="cases-by-{by}.csv"'},
    )


class SupervisorOut(BaseModel):
    username: str
    name: str
    scope: str
    """``grid:<id>``, ``community:<id>``, ``street:<id>`` or ``district``."""
    level: Literal["grid", "community", "street", "district"]


@router.get("/supervisors")
async def supervisors(svc: Cases, _user: Dispatcher) -> list[SupervisorOut]:
    """The site's supervisors (领导) and the part of the district each supervises (督办): a
    red case in their scope notifies them."""
    return [
        SupervisorOut(username=s.username, name=s.name, scope=s.scope, level=s.level)
        for s in svc.site.supervisors
    ]


@router.get("/categories")
async def catalogue(svc: Cases, _user: Viewer) -> Catalogue:
    """Departments and case categories (大类/小类, limits, sources)."""
    cat = svc.catalogue
    return Catalogue(departments=list(cat.departments), categories=list(cat.categories))
