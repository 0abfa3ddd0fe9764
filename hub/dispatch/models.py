"""Typed records of the case loop: the case itself is the bus payload
(:class:`hub.bus.contracts.Case`); here are its timeline, evidence, pages and the inputs the API
takes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hub.bus.contracts import Case, CaseChange, CaseSource, Light
from hub.config.common import LonLat
from hub.dispatch.parts import CasePart
from hub.dispatch.workflow import Action

__all__ = [
    "Case",
    "CaseAction",
    "CaseChange",
    "CaseDetail",
    "CasePage",
    "CasePart",
    "CaseSource",
    "CitizenContact",
    "CitizenReport",
    "EvidenceItem",
    "EvidenceKind",
    "Light",
    "NewCase",
    "PhotoInfo",
    "TimelineEntry",
    "WorkerReport",
]

EvidenceKind = Literal["detection", "alarm", "device_event", "photo", "recording", "note"]

_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
"""No control characters (tabs and newlines are fine)."""


class TimelineEntry(BaseModel):
    ts: datetime
    action: str
    actor: str
    role: str
    from_state: str | None
    to_state: str
    version: int
    detail: dict[str, Any] = Field(default_factory=dict)


class EvidenceItem(BaseModel):
    id: int
    ts: datetime
    kind: EvidenceKind
    ref: str
    """The detection's event id, the alarm id, the photo's file id..."""
    detail: dict[str, Any] = Field(default_factory=dict)


class CaseDetail(Case):
    timeline: list[TimelineEntry]
    evidence: list[EvidenceItem]
    parts: list[CasePart] = Field(default_factory=list)
    """Co-dispatched departments' parts (联合派遣), oldest first."""
    category_name: str | None = None
    department_name: str | None = None


class CasePage(BaseModel):
    items: list[Case]
    total: int
    """Cases matching the filters (all pages)."""
    next_before_id: int | None


class NewCase(BaseModel):
    """A case entered by an operator (or reported by a worker or citizen through their own
    routes). The place is a position, a grid, or both; the grid is found from the position."""

    model_config = ConfigDict(extra="forbid")

    category: str = Field(pattern=r"^\d{2}\.\d{2}$")
    title: str = Field(min_length=1, max_length=200, pattern=_TEXT)
    description: str = Field(default="", max_length=2000, pattern=_TEXT)
    position: LonLat | None = None
    grid_id: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    address: str | None = Field(default=None, max_length=200, pattern=_TEXT)


class WorkerReport(BaseModel):
    """A patrol report from the field app (随手拍): what, where, photos uploaded before."""

    model_config = ConfigDict(extra="forbid")

    category: str = Field(pattern=r"^\d{2}\.\d{2}$")
    title: str = Field(min_length=1, max_length=200, pattern=_TEXT)
    description: str = Field(default="", max_length=2000, pattern=_TEXT)
    position: LonLat
    photos: list[Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]] = Field(
        default_factory=list, max_length=9
    )
    on_spot: bool = False
    """Handled there by the reporter (自行处置; only categories that allow it)."""


class PhotoInfo(BaseModel):
    id: str
    width: int
    height: int
    size: int


class CaseAction(BaseModel):
    """One step of the loop on a case. ``version`` is the case version the caller saw: a
    change made since gets 409 (reload and decide again) instead of being overwritten."""

    model_config = ConfigDict(extra="forbid")

    action: Action
    version: int = Field(ge=1, le=2**31 - 1)
    note: str | None = Field(default=None, max_length=2000, pattern=_TEXT)
    assignee: str | None = Field(default=None, min_length=1, max_length=64)
    """dispatch / check_fail: the worker (username) the case goes to."""
    rating: int | None = Field(default=None, ge=1, le=5)
    """evaluate: 1 (poor) to 5 (excellent)."""
    photos: list[Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]] = Field(
        default_factory=list, max_length=9
    )
    """feedback: ids of photos uploaded before (evidence)."""
    extension: Literal["1 working_days", "2 working_days", "3 working_days", "5 working_days"] = (
        "1 working_days"
    )
    """request_extension: how much more time (approved as asked)."""


class CitizenContact(BaseModel):
    """Who reported, when they said (all optional). Personal data: kept with the case's
    evidence for the center to call back, never shown on a public route."""

    model_config = ConfigDict(extra="forbid")

    first_name: str | None = Field(default=None, max_length=64, pattern=_TEXT)
    last_name: str | None = Field(default=None, max_length=64, pattern=_TEXT)
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^\s@]{1,64}@[^\s@]{1,252}$")
    phone: str | None = Field(default=None, max_length=32, pattern=r"^[0-9+()\-. ]{3,32}$")
    device_id: str | None = Field(default=None, max_length=64, pattern=_TEXT)
    account_id: str | None = Field(default=None, max_length=64, pattern=_TEXT)

    def given(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v}


class CitizenReport(BaseModel):
    """A report from a citizen (the 12345 hotline's apps, a city portal) through an outside
    system: what, where (a position, or only an address the center locates), what they said.
    ``media_url`` is kept as text and never fetched."""

    model_config = ConfigDict(extra="forbid")

    category: str = Field(pattern=r"^\d{2}\.\d{2}$")
    description: str = Field(default="", max_length=2000, pattern=_TEXT)
    position: LonLat | None = None
    address: str | None = Field(default=None, max_length=200, pattern=_TEXT)
    media_url: str | None = Field(default=None, max_length=1024, pattern=r"^https?://[^\s]+$")
    contact: CitizenContact = Field(default_factory=CitizenContact)
