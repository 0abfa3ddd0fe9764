"""Open311 GeoReport v2 on the wire (https://wiki.open311.org/GeoReport_v2), JSON only: the
services (our case categories), the service requests (citizen-reported cases) as the public
sees them, the POST arguments, and the error array.

Pure: no I/O. A public service request carries no personal data (name, email, phone, device)
and no internal detail (timeline notes, assignee, escalation): only the status the spec names,
a fixed public note per state, the place and the times.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hub.config.categories import KIND_NAMES, Category, CategoryCatalogue
from hub.dispatch.models import Case, CitizenContact, CitizenReport
from hub.dispatch.repo import CaseFilter
from hub.dispatch.workflow import FINAL_STATES, CaseState
from hub.errors import HubError

Status = Literal["open", "closed"]

STATUS_NOTES: dict[str, str] = {
    "reported": "已收到，等待受理 Received, waiting to be accepted",
    "accepted": "已受理 Accepted",
    "opened": "已立案，正在派遣 Opened, being dispatched",
    "dispatched": "处置中 Being handled",
    "received": "处置中 Being handled",
    "on_scene": "处置中 Being handled",
    "handled": "已处置，正在核查 Handled, being checked",
    "closed": "已结案 Closed: handled and checked",
    "evaluated": "已结案 Closed: handled and checked",
    "voided": "已作废 Closed without action (not a matter for the city, or a duplicate)",
}
"""The public note of each case state: fixed text, never an operator's note."""

CLOSED_STATES: tuple[CaseState, ...] = tuple(sorted(FINAL_STATES))


class Open311Error(HubError):
    """An answer in the spec's error format: ``[{"code": status, "description": ...}]``."""

    status = 400
    title = "Bad request"

    def __init__(
        self, description: str, status: int = 400, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.headers = dict(headers or {})


class ErrorItem(BaseModel):
    code: int
    description: str


class Service(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool = False
    type: Literal["realtime", "batch", "blackbox"] = "realtime"
    keywords: str
    group: str


class ServiceDefinition(BaseModel):
    service_code: str
    attributes: list[dict[str, Any]] = Field(default_factory=list)
    """Always empty: a category asks for nothing beyond the standard arguments."""


class RequestCreated(BaseModel):
    service_request_id: str
    service_notice: str | None = None
    account_id: str | None = None


class ServiceRequest(BaseModel):
    """A citizen-reported case as the public sees it."""

    service_request_id: str
    status: Status
    status_notes: str
    service_name: str
    service_code: str
    description: str
    agency_responsible: str | None
    service_notice: str | None = None
    requested_datetime: str
    updated_datetime: str
    expected_datetime: str | None
    address: str | None
    address_id: str | None = None
    zipcode: str | None = None
    lat: float | None
    long: float | None
    media_url: str | None = None


def service_name(cat: Category) -> str:
    return f"{cat.name} {cat.name_en}"


def service_of(cat: Category, catalogue: CategoryCatalogue) -> Service:
    dept = catalogue.department_by_id.get(cat.department)
    who = f"{dept.name} {dept.name_en}" if dept else cat.department
    return Service(
        service_code=cat.code,
        service_name=service_name(cat),
        description=(
            f"{KIND_NAMES[cat.kind]} {cat.major_name} / {cat.name} ({cat.name_en}); handled by"
            f" {who} within {cat.limits.handle}"
        ),
        keywords=", ".join([cat.major_name, KIND_NAMES[cat.kind], cat.kind, cat.name_en]),
        group=cat.major_name,
    )


def status_of(case: Case) -> Status:
    return "closed" if case.state in FINAL_STATES else "open"


def local_iso(t: datetime, tz: str) -> str:
    """W3C datetime in the site's time zone, to the second."""
    return t.astimezone(ZoneInfo(tz)).replace(microsecond=0).isoformat()


def request_of(
    case: Case, catalogue: CategoryCatalogue, tz: str, media_url: str | None = None
) -> ServiceRequest:
    cat = catalogue.get(case.category)
    dept = catalogue.department_by_id.get(case.department or "")
    return ServiceRequest(
        service_request_id=str(case.id),
        status=status_of(case),
        status_notes=STATUS_NOTES.get(case.state, ""),
        service_name=service_name(cat) if cat else case.category,
        service_code=case.category,
        description=case.description,
        agency_responsible=f"{dept.name} {dept.name_en}" if dept else None,
        requested_datetime=local_iso(case.created_at, tz),
        updated_datetime=local_iso(case.updated_at, tz),
        expected_datetime=None if case.deadline is None else local_iso(case.deadline, tz),
        address=case.address,
        lat=None if case.position is None else case.position[1],
        long=None if case.position is None else case.position[0],
        media_url=media_url,
    )


def notice(case: Case, tz: str) -> str:
    if case.deadline is None:
        return f"已收到，编号 {case.id} Received as request {case.id}"
    due = case.deadline.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")
    return (
        f"已收到，编号 {case.id}，预计 {due} 前处理"
        f" Received as request {case.id}; expected by {due}"
    )


class PostArguments(BaseModel):
    """The arguments of POST requests.json (form fields or a JSON object), bounded. Unknown
    arguments (``attribute[...]``, ``address_id``, ...) are ignored."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    jurisdiction_id: str | None = Field(default=None, max_length=64)
    service_code: str = Field(pattern=r"^\d{2}\.\d{2}$")
    lat: float | None = Field(default=None, ge=-90, le=90, allow_inf_nan=False)
    long: float | None = Field(default=None, ge=-180, le=180, allow_inf_nan=False)
    address_string: str | None = Field(default=None, min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    media_url: str | None = Field(default=None, max_length=1024)
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    device_id: str | None = None
    account_id: str | None = None


MAX_ARGUMENTS = 64


def parse_report(fields: Mapping[str, Any]) -> CitizenReport:
    """The citizen report the POST arguments describe; :class:`Open311Error` (400) naming the
    wrong arguments (never their values) otherwise."""
    if len(fields) > MAX_ARGUMENTS:
        raise Open311Error(f"too many arguments (at most {MAX_ARGUMENTS})")
    data = {k: v for k, v in fields.items() if v != "" and k != "api_key"}
    try:
        args = PostArguments.model_validate(data)
        if (args.lat is None) != (args.long is None):
            raise Open311Error("lat and long go together")
        if args.lat is None and not args.address_string:
            raise Open311Error("a location is required: lat and long, or address_string")
        contact = CitizenContact(
            first_name=args.first_name,
            last_name=args.last_name,
            email=args.email,
            phone=args.phone,
            device_id=args.device_id,
            account_id=args.account_id,
        )
        return CitizenReport(
            category=args.service_code,
            description=args.description,
            position=None if args.lat is None or args.long is None else [args.long, args.lat],
            address=args.address_string,
            media_url=args.media_url,
            contact=contact,
        )
    except ValidationError as exc:
        raise Open311Error(describe(exc.errors())) from None


_ARGUMENT = {"category": "service_code", "position": "lat/long", "address": "address_string"}
"""Report fields by the name of the argument they come from."""


def describe(errors: Sequence[Any]) -> str:
    """The arguments validation errors are about and what is wrong, without their values."""
    parts = []
    for err in errors[:10]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body"))
        where = _ARGUMENT.get(where, where.removeprefix("contact."))
        parts.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


MAX_ROW_ID = 2**63 - 1
MAX_IDS = 100
MAX_CODES = 50
MAX_SPAN = timedelta(days=90)
"""The widest requested_datetime range one search covers (the spec's default and limit)."""


def _items(value: str | None, name: str, most: int) -> list[str]:
    items = [v.strip() for v in (value or "").split(",") if v.strip()]
    if len(items) > most:
        raise Open311Error(f"{name}: at most {most} values")
    return items


def search_filter(
    *,
    ids: str | None,
    codes: str | None,
    statuses: str | None,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
) -> CaseFilter:
    """The case filter of a GET requests.json search. With ``service_request_id`` the other
    arguments are ignored (as the spec says); otherwise the requested_datetime range is at most
    90 days, the last 90 by default."""
    wanted = []
    for v in _items(ids, "service_request_id", MAX_IDS):
        if not v.isdigit() or not 1 <= int(v) <= MAX_ROW_ID:
            raise Open311Error("service_request_id: a comma-separated list of request ids")
        wanted.append(int(v))
    if wanted:
        return CaseFilter(ids=wanted)
    categories = _items(codes, "service_code", MAX_CODES)
    for c in categories:
        if len(c) != 5 or c[2] != "." or not (c[:2] + c[3:]).isdigit():
            raise Open311Error('service_code: a comma-separated list of codes like "01.02"')
    states: list[str] = []
    for v in _items(statuses, "status", 2):
        if v == "open":
            states.append("open")
        elif v == "closed":
            states.extend(CLOSED_STATES)
        else:
            raise Open311Error("status: open, closed or both")
    if start is not None and end is not None:
        if end < start:
            raise Open311Error("end_date is before start_date")
        if end - start > MAX_SPAN:
            raise Open311Error("start_date to end_date may span at most 90 days")
    elif start is None:
        start = (end or now) - MAX_SPAN
    else:
        end = start + MAX_SPAN
    return CaseFilter(state=states, categories=categories, since=start, until=end)
