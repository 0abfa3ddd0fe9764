"""The case category catalogue and departments (hub/config/categories.py) and their site-file
sections."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import ValidationError

from hub.config import Category, CategoryCatalogue, Department, Site, VideoType, parse_site
from hub.config.categories import default_data
from hub.errors import SiteFileError
from simulators.sensors.catalog import device_profiles

BASE = Site.for_cameras([], name="测试区").to_yaml()
"""A valid site file with no cameras: the catalogue sections are appended to it."""

ROUTINE = {
    "accept": "1 working_hours",
    "dispatch": "0.5 working_hours",
    "handle": "4 working_hours",
    "check": "2 working_hours",
    "total": "1 working_days",
}


def _cat(code: str, dept: str = "d1", **changes: Any) -> Category:
    """A valid event category, with ``changes`` applied to its fields."""
    major = str(code)[:2]
    return Category.model_validate(
        {"code": code, "kind": "event", "major_code": major, "major_name": f"大类{major}",
         "name": f"小类{code}", "name_en": f"Sub {code}", "department": dept, "limits": ROUTINE}
        | changes
    )  # fmt: skip


DEPTS = [
    Department(id="d1", name="一局", name_en="Bureau 1"),
    Department(id="d2", name="二局", name_en="Bureau 2"),
]


# --- the shipped catalogue ----------------------------------------------------------------


def test_shipped_catalogue_loads_with_enough_categories_and_departments() -> None:
    cat = CategoryCatalogue.default()
    assert cat is CategoryCatalogue.default()
    assert len(cat) >= 32
    assert len(cat.departments) >= 12
    assert len(cat.of_kind("event")) >= 16
    assert len(cat.of_kind("component")) >= 12
    names = {d.name for d in cat.departments}
    for expected in ("城市管理", "公安", "消防", "市政", "园林", "生态环境", "水务", "交通", "住房",
                     "市场监督", "应急管理", "街道办事处"):  # fmt: skip
        assert any(expected in n for n in names), expected
    assert all(d.name_en for d in cat.departments)


def test_every_shipped_category_is_consistent() -> None:
    cat = CategoryCatalogue.default()
    codes = [c.code for c in cat]
    assert len(set(codes)) == len(codes)
    assert codes == sorted(codes)
    majors: dict[str, tuple[str, str]] = {}
    for c in cat:
        assert re.fullmatch(r"\d{2}\.\d{2}", c.code)
        assert cat.department(c.department).id == c.department
        assert cat.department_of(c.code).id == c.department
        assert majors.setdefault(c.major_code, (c.major_name, c.kind)) == (c.major_name, c.kind)
        assert re.search(r"[\u4e00-\u9fff]", c.name), c.code
        assert c.name_en.isascii(), c.code
    # 部件 keep the standard's 大类 01-06; 事件 are numbered from 11 so codes stay unique.
    component_majors = {m for m, (_, kind) in majors.items() if kind == "component"}
    assert component_majors <= {"01", "02", "03", "04", "05", "06"}
    assert all(m >= "11" for m, (_, kind) in majors.items() if kind == "event")


def test_shipped_limits_are_realistic() -> None:
    cat = CategoryCatalogue.default()
    fire = cat.category("14.01")
    assert fire.name == "火灾"
    assert fire.department == "fire"
    for stage in ("accept", "dispatch", "handle", "check", "total"):
        assert getattr(fire.limits, stage).unit in ("minutes", "hours")
    assert fire.limits.accept.unit == "minutes"
    light = next(c for c in cat if c.name == "路灯不亮")
    assert (light.limits.handle.amount, light.limits.handle.unit) == (2, "working_days")
    garbage = next(c for c in cat if c.name == "暴露垃圾")
    assert (garbage.limits.handle.amount, garbage.limits.handle.unit) == (4, "working_hours")
    assert garbage.minor_on_spot
    building = next(c for c in cat if c.name == "私搭乱建")
    assert building.limits.handle.unit == "working_days"
    assert 15 <= building.limits.handle.amount <= 20


@pytest.mark.parametrize(
    ("detection", "name"),
    [("intrusion", "区域入侵"), ("line_crossing", "越线"), ("loitering", "可疑徘徊"),
     ("crowd", "人员聚集"), ("fire", "火灾"), ("smoke", "火灾"), ("abandoned_object", "可疑遗留物"),
     ("illegal_parking", "违章停车"), ("street_vending", "占道经营"),
     ("tampering", "视频监控设备故障"), ("camera_fault", "视频监控设备故障")],
)  # fmt: skip
def test_video_detections_map_to_categories(detection: str, name: str) -> None:
    found = CategoryCatalogue.default().for_video(detection)
    assert found is not None
    assert found.name == name


def test_every_video_type_and_demo_alarm_rule_opens_a_category() -> None:
    cat = CategoryCatalogue.default()
    assert all(cat.for_video(t) is not None for t in get_args(VideoType))
    unmapped = {
        rule["id"]
        for profile in device_profiles()
        for rule in profile["alarm_rules"]
        if cat.for_alarm_rule(rule["id"]) is None
    }
    assert unmapped == {"gps-overspeed"}  # patrol-fleet management, not a city case
    assert cat.for_alarm_rule("smoke-high") is cat.category("14.01")
    assert cat.for_alarm_rule("manhole-tilt") is not None
    assert cat.for_alarm_rule("manhole-tilt").name == "井盖位移"  # type: ignore[union-attr]
    assert cat.for_alarm_rule("water-level").name == "城市内涝"  # type: ignore[union-attr]
    assert cat.for_alarm_rule("nope") is None
    assert cat.for_video("nope") is None
    assert cat.for_device_event("sos") is not None
    assert cat.for_device_event("nope") is None


def test_lookups_by_code_and_department() -> None:
    cat = CategoryCatalogue.default()
    assert "14.01" in cat
    assert "99.99" not in cat
    assert cat.get("99.99") is None
    with pytest.raises(KeyError, match=r"99\.99"):
        cat.category("99.99")
    with pytest.raises(KeyError, match="nobody"):
        cat.department("nobody")
    assert cat.department_by_id["police"].name_en
    majors = cat.majors()
    assert majors[0][0] == "01"
    assert ("14", "突发事件", "event") in majors


# --- validation -------------------------------------------------------------------------


def test_catalogue_rejects_inconsistencies() -> None:
    CategoryCatalogue(DEPTS, [_cat("01.01"), _cat("01.02", "d2")])
    with pytest.raises(ValueError, match=r"code 01\.01 is listed twice"):
        CategoryCatalogue(DEPTS, [_cat("01.01"), _cat("01.01")])
    with pytest.raises(ValueError, match="unknown department 'd9'"):
        CategoryCatalogue(DEPTS, [_cat("01.01", "d9")])
    with pytest.raises(ValueError, match="department id 'd1' is listed twice"):
        CategoryCatalogue([*DEPTS, DEPTS[0]], [_cat("01.01")])
    fire = {"sources": {"video": ["fire"]}}
    with pytest.raises(ValueError, match="video detection 'fire' maps to both"):
        CategoryCatalogue(DEPTS, [_cat("01.01", **fire), _cat("01.02", **fire)])
    rule = {"sources": {"alarm_rules": ["smoke-high"]}}
    with pytest.raises(ValueError, match="alarm rule 'smoke-high' maps to both"):
        CategoryCatalogue(DEPTS, [_cat("01.01", **rule), _cat("02.01", **rule)])
    event = {"sources": {"device_events": ["sos"]}}
    with pytest.raises(ValueError, match="device event 'sos' maps to both"):
        CategoryCatalogue(DEPTS, [_cat("01.01", **event), _cat("02.01", **event)])
    renamed = _cat("01.02", major_name="别的")
    with pytest.raises(ValueError, match="major category 01 is already"):
        CategoryCatalogue(DEPTS, [_cat("01.01"), renamed])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"code": "1.1"}, "pattern"),
        ({"code": 1.03}, "quote the code"),
        ({"major_code": 1}, "quote the code"),
        ({"major_code": "02"}, "not in major category 02"),
        ({"kind": "incident"}, "'event' or 'component'"),
        ({"sources": {"video": ["ufo"]}}, "intrusion"),
        ({"sources": {"video": ["fire", "fire"]}}, "lists a value twice"),
        ({"fusion": {"window_seconds": 0}}, "greater than 0"),
        ({"limits": {**ROUTINE, "handle": "4 fortnights"}}, "working_hours"),
        ({"limits": {k: v for k, v in ROUTINE.items() if k != "check"}}, "check"),
        ({"colour": "red"}, "Extra inputs"),
    ],
)
def test_category_rejects_bad_fields(change: dict[str, Any], message: str) -> None:
    fields = {"code": "01.01"} | change
    with pytest.raises(ValidationError, match=message):
        _cat(**fields)


def test_category_defaults() -> None:
    c = _cat("01.01")
    assert (c.fusion.window_seconds, c.fusion.radius_m) == (600, 50)
    assert not c.auto_dispatch
    assert not c.minor_on_spot
    assert c.sources.video == c.sources.alarm_rules == c.sources.device_events == []


def test_shipped_data_file_is_what_default_uses() -> None:
    data = default_data()
    assert [c.code for c in data.categories] == [c.code for c in CategoryCatalogue.default()]


# --- in the site file -------------------------------------------------------------------

SITE_CATALOGUE = """departments:
  - {id: chengguan, name: 城管执法局, name_en: Urban Management Bureau}
  - {id: police, name: 公安分局, name_en: Public Security Bureau}
categories:
  - code: "15.01"
    kind: event
    major_code: "15"
    major_name: 街面秩序
    name: 占道经营
    name_en: Street vending
    department: chengguan
    limits: {accept: 30 minutes, dispatch: 30 minutes, handle: 2 working_hours,
             check: 1 working_hours, total: 4 working_hours}
    minor_on_spot: true
    sources: {video: [street_vending]}
  - code: "17.01"
    kind: event
    major_code: "17"
    major_name: 治安防控
    name: 区域入侵
    name_en: Intrusion
    department: police
    limits:
      accept: {amount: 3, unit: minutes}
      dispatch: 5 minutes
      handle: 30 minutes
      check: 30 minutes
      total: 90 minutes
    fusion: {window_seconds: 120, radius_m: 20}
    sources: {video: [intrusion], alarm_rules: [door-forced]}
"""


def _line(text: str, needle: str) -> int:
    return text.splitlines().index(needle) + 1


def test_site_without_catalogue_uses_the_shipped_one() -> None:
    site = parse_site(BASE)
    assert site.catalogue() is CategoryCatalogue.default()


def test_site_categories_replace_the_shipped_ones() -> None:
    site = parse_site(BASE + SITE_CATALOGUE)
    cat = site.catalogue()
    assert cat is site.catalogue()  # built once
    assert [c.code for c in cat] == ["15.01", "17.01"]
    assert [d.id for d in cat.departments] == ["chengguan", "police"]
    assert cat.for_video("street_vending") is cat.category("15.01")
    assert cat.for_video("fire") is None  # the shipped fire category is gone
    intrusion = cat.category("17.01")
    assert intrusion.limits.accept.amount == 3
    assert intrusion.limits.dispatch.unit == "minutes"
    assert intrusion.fusion.window_seconds == 120
    assert cat.for_alarm_rule("door-forced") is intrusion
    assert parse_site(site.to_yaml()) == site


def test_site_categories_alone_use_the_shipped_departments() -> None:
    only_categories = SITE_CATALOGUE[SITE_CATALOGUE.index("categories:") :]
    text = BASE + only_categories.replace("department: chengguan", "department: urban-management")
    cat = parse_site(text).catalogue()
    assert len(cat) == 2
    assert cat.department_of("15.01").name_en == "Urban Management and Law Enforcement Bureau"
    assert len(cat.departments) == len(CategoryCatalogue.default().departments)


def test_site_departments_alone_must_cover_the_shipped_categories() -> None:
    only_departments = SITE_CATALOGUE[: SITE_CATALOGUE.index("categories:")]
    with pytest.raises(SiteFileError, match="lists departments but no categories"):
        parse_site(BASE + only_departments)
    shipped = "".join(
        f"  - {{id: {d.id}, name: {d.name}, name_en: {d.name_en}}}\n"
        for d in CategoryCatalogue.default().departments
    )
    site = parse_site(BASE + "departments:\n" + shipped)
    assert len(site.catalogue()) == len(CategoryCatalogue.default())


def test_site_catalogue_errors_name_their_line() -> None:
    text = BASE + SITE_CATALOGUE.replace("    minor_on_spot: true", "    on_spot: true")
    with pytest.raises(SiteFileError) as exc:
        parse_site(text, "x.yaml")
    assert f"x.yaml:{_line(text, '    on_spot: true')}: categories.0.on_spot" in str(exc.value)

    text = BASE + SITE_CATALOGUE.replace("      dispatch: 5 minutes", "      dispatch: 5 weeks")
    with pytest.raises(SiteFileError) as exc:
        parse_site(text, "x.yaml")
    assert f"x.yaml:{_line(text, '      dispatch: 5 weeks')}: categories.1.limits.dispatch" in str(
        exc.value
    )

    text = BASE + SITE_CATALOGUE.replace("department: police", "department: fbi")
    with pytest.raises(SiteFileError, match="unknown department 'fbi'") as exc:
        parse_site(text, "x.yaml")
    assert f"x.yaml:{_line(text, 'categories:')}: categories" in str(exc.value)

    text = BASE + SITE_CATALOGUE.replace("[intrusion]", "[street_vending]")
    with pytest.raises(SiteFileError, match="'street_vending' maps to both"):
        parse_site(text, "x.yaml")

    text = BASE + SITE_CATALOGUE.replace("id: police", "id: chengguan")
    with pytest.raises(SiteFileError, match="department ids must be unique") as exc:
        parse_site(text, "x.yaml")
    assert f"x.yaml:{_line(text, 'departments:')}: departments" in str(exc.value)

    text = BASE + SITE_CATALOGUE.replace('code: "15.01"', "code: 15.01")
    with pytest.raises(SiteFileError, match="quote the code"):
        parse_site(text, "x.yaml")


def _docs_yaml(heading: str) -> str:
    """The first YAML example under ``heading`` in docs/operations.md."""
    docs = (Path(__file__).parents[2] / "docs" / "operations.md").read_text(encoding="utf-8")
    section = docs[docs.index(heading) :]
    return section[
        section.index("```yaml\n") + 8 : section.index("```\n", section.index("```yaml"))
    ]


def test_the_documented_examples_parse() -> None:
    site = parse_site(BASE + _docs_yaml("### Case categories") + _docs_yaml("### Working calendar"))
    assert [c.code for c in site.catalogue()] == ["15.01", "14.01"]
    assert site.catalogue().for_alarm_rule("heat-rise") is site.catalogue().category("14.01")
    assert site.work_calendar().is_working_day(date(2026, 10, 10))
