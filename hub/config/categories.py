"""The case category catalogue (部件/事件 分类) and the departments (职能部门) cases go to.

Each 小类 (sub-category) has a code "大类.小类" (two digits each, after the digital urban
management standard GB/T 30428), a kind (``component`` 部件: a city facility with an owner;
``event`` 事件: something that happens), the department responsible, per-stage time limits on
the working calendar, how detections and alarms fuse into one case, and the inputs that map to
it: video detection types, alarm rule ids, device event types.

A shipped default (``data/categories.yaml``, :meth:`CategoryCatalogue.default`) covers a Chinese
district; a site file's ``departments:`` and ``categories:`` replace it (see
:class:`hub.config.site.Site`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from importlib.resources import files
from types import MappingProxyType
from typing import Any, Literal

import yaml
from pydantic import Field, field_validator, model_validator

from hub.config.calendar import TimeLimit
from hub.config.common import Strict

CategoryKind = Literal["event", "component"]
KIND_NAMES: dict[str, str] = {"event": "事件", "component": "部件"}

VideoType = Literal[
    "intrusion",
    "line_crossing",
    "loitering",
    "crowd",
    "fire",
    "smoke",
    "tampering",
    "abandoned_object",
    "illegal_parking",
    "street_vending",
    "garbage",
    "camera_fault",
]
"""Video detection types a category may claim. ``tampering``: the view is blocked, sprayed or
turned away (遮挡/移位); ``camera_fault``: the stream is lost or frozen (the health watchdog)."""

_ID = r"^[a-z][a-z0-9_-]{0,63}$"


class Department(Strict):
    """A department (职能部门) or unit that handles cases: police, urban management, a street
    office..."""

    id: str = Field(pattern=_ID)
    name: str = Field(min_length=1)
    name_en: str = Field(min_length=1)


class StageLimits(Strict):
    """Time limits of the stages of the case loop: ``accept`` (受理 and 立案: from report to
    case opened), ``dispatch`` (派遣), ``handle`` (处置: from dispatch to handling feedback),
    ``check`` (核查: from feedback to checked) and ``total`` (report to close)."""

    accept: TimeLimit
    dispatch: TimeLimit
    handle: TimeLimit
    check: TimeLimit
    total: TimeLimit


class Fusion(Strict):
    """Detections and alarms of one category at the same place (within ``radius_m``) inside
    ``window_seconds`` of the case's last one join that case instead of opening another."""

    window_seconds: float = Field(default=600.0, gt=0, allow_inf_nan=False)
    radius_m: float = Field(default=50.0, gt=0, allow_inf_nan=False)


class Sources(Strict):
    """The inputs that open cases of a category."""

    video: list[VideoType] = Field(default_factory=list)
    alarm_rules: list[str] = Field(default_factory=list)
    """Alarm rule ids of device profiles (``device_profiles[].alarm_rules[].id``)."""
    device_events: list[str] = Field(default_factory=list)
    """Event types devices publish on ``hub/v1/devices/{id}/events``."""

    @model_validator(mode="after")
    def _unique(self) -> Sources:
        for name in ("video", "alarm_rules", "device_events"):
            values: list[str] = getattr(self, name)
            if len(set(values)) != len(values):
                raise ValueError(f"{name} lists a value twice")
        return self


class Category(Strict):
    """One 小类 of the catalogue."""

    code: str = Field(pattern=r"^\d{2}\.\d{2}$")
    """大类.小类, e.g. "01.03"."""
    kind: CategoryKind
    major_code: str = Field(pattern=r"^\d{2}$")
    major_name: str = Field(min_length=1)
    name: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    department: str
    """The id of the responsible department."""
    limits: StageLimits
    fusion: Fusion = Field(default_factory=Fusion)
    auto_dispatch: bool = False
    """Dispatch without an operator: the case goes straight to the grid's worker or the
    department."""
    minor_on_spot: bool = False
    """The reporting worker may handle it on the spot (自行处置) and close it with a photo."""
    skills: list[str] = Field(default_factory=list, max_length=8)
    """Skills (as the site file's workers list them) that suit the case: a worker holding one
    is recommended before others of the same rank, state and department."""
    sources: Sources = Field(default_factory=Sources)

    @field_validator("code", "major_code", mode="before")
    @classmethod
    def _quoted(cls, v: Any) -> Any:
        if isinstance(v, int | float) and not isinstance(v, bool):
            raise ValueError(f'quote the code ("01.03", "01"): YAML read it as the number {v}')
        return v

    @model_validator(mode="after")
    def _major(self) -> Category:
        if self.code[:2] != self.major_code:
            raise ValueError(f"code {self.code} is not in major category {self.major_code}")
        return self


class CategoryCatalogue:
    """Departments and categories, checked together, with the look-ups the case loop needs.

    Raises ValueError when department ids or category codes repeat, a category names an unknown
    department, a 大类 code has two names or kinds, or an input maps to two categories.
    """

    def __init__(self, departments: Sequence[Department], categories: Sequence[Category]) -> None:
        self.departments: tuple[Department, ...] = tuple(departments)
        self.categories: tuple[Category, ...] = tuple(categories)
        self._departments: dict[str, Department] = {}
        for d in self.departments:
            if d.id in self._departments:
                raise ValueError(f"department id {d.id!r} is listed twice")
            self._departments[d.id] = d
        self._by_code: dict[str, Category] = {}
        majors: dict[str, tuple[str, str]] = {}
        self._video: dict[str, Category] = {}
        self._alarm: dict[str, Category] = {}
        self._device: dict[str, Category] = {}
        for c in self.categories:
            if c.code in self._by_code:
                raise ValueError(f"category code {c.code} is listed twice")
            self._by_code[c.code] = c
            if c.department not in self._departments:
                raise ValueError(f"category {c.code} names unknown department {c.department!r}")
            major = majors.setdefault(c.major_code, (c.major_name, c.kind))
            if major != (c.major_name, c.kind):
                raise ValueError(
                    f"category {c.code}: major category {c.major_code} is already"
                    f" {major[0]!r} ({major[1]})"
                )
            for what, index, values in (
                ("video detection", self._video, c.sources.video),
                ("alarm rule", self._alarm, c.sources.alarm_rules),
                ("device event", self._device, c.sources.device_events),
            ):
                for v in values:
                    other = index.setdefault(v, c)
                    if other is not c:
                        raise ValueError(
                            f"{what} {v!r} maps to both category {other.code} and {c.code}"
                        )

    @classmethod
    def default(cls) -> CategoryCatalogue:
        """The shipped catalogue (``hub/config/data/categories.yaml``), loaded once."""
        return _default_catalogue()

    def __len__(self) -> int:
        return len(self.categories)

    def __iter__(self) -> Iterator[Category]:
        return iter(self.categories)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def get(self, code: str) -> Category | None:
        return self._by_code.get(code)

    def category(self, code: str) -> Category:
        """The category with this code; KeyError when there is none."""
        try:
            return self._by_code[code]
        except KeyError:
            raise KeyError(f"no category {code!r} in the catalogue") from None

    def department(self, dept_id: str) -> Department:
        """The department with this id; KeyError when there is none."""
        try:
            return self._departments[dept_id]
        except KeyError:
            raise KeyError(f"no department {dept_id!r} in the catalogue") from None

    @property
    def department_by_id(self) -> Mapping[str, Department]:
        """Departments by id (read-only)."""
        return MappingProxyType(self._departments)

    def department_of(self, code: str) -> Department:
        """The department responsible for category ``code``."""
        return self._departments[self.category(code).department]

    def for_video(self, detection_type: str) -> Category | None:
        """The category a video detection of this type opens, if any."""
        return self._video.get(detection_type)

    def for_alarm_rule(self, rule_id: str) -> Category | None:
        """The category an alarm of this rule opens, if any."""
        return self._alarm.get(rule_id)

    def for_device_event(self, event_type: str) -> Category | None:
        """The category a device event of this type opens, if any."""
        return self._device.get(event_type)

    def of_kind(self, kind: CategoryKind) -> list[Category]:
        return [c for c in self.categories if c.kind == kind]

    def majors(self) -> list[tuple[str, str, CategoryKind]]:
        """(major code, major name, kind) of every 大类, in code order."""
        seen: dict[str, tuple[str, str, CategoryKind]] = {}
        for c in self.categories:
            seen.setdefault(c.major_code, (c.major_code, c.major_name, c.kind))
        return sorted(seen.values())


class CatalogueFile(Strict):
    """The shape of ``data/categories.yaml``."""

    departments: list[Department] = Field(min_length=1)
    categories: list[Category] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> CatalogueFile:
        CategoryCatalogue(self.departments, self.categories)
        return self


@cache
def default_data() -> CatalogueFile:
    """The shipped departments and categories as parsed from the data file."""
    text = files("hub.config").joinpath("data/categories.yaml").read_text(encoding="utf-8")
    return CatalogueFile.model_validate(yaml.safe_load(text))


@cache
def _default_catalogue() -> CategoryCatalogue:
    data = default_data()
    return CategoryCatalogue(data.departments, data.categories)
