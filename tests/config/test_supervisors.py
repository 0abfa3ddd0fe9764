"""The site file's supervisors (督办 escalation): optional, scopes that exist, one entry per
account; and the Open311 key setting, whose keys never show in an error."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from hub.config import Camera, Settings, Site, load_site, parse_site
from hub.errors import SiteFileError

BASE = Site.for_cameras(
    [Camera(id="cam", name="cam", url="rtsp://x/a", grid="g1", position=[120.0, 31.8])],
    name="测试区",
).to_yaml()
"""District ``d``, street ``s``, community ``c``, grid ``g1``."""


def _with(*lines: str) -> str:
    return BASE + "supervisors:\n" + "".join(f"  - {line}\n" for line in lines)


def test_supervisors_are_optional_and_parsed() -> None:
    assert parse_site(BASE).supervisors == []
    site = parse_site(
        _with(
            "{username: zhao, name: 赵主任, scope: 'street:s'}",
            "{username: sun, name: 孙书记, scope: 'community:c'}",
            "{username: wu, name: 吴网格长, scope: 'grid:g1'}",
            "{username: qian, name: 钱区长, scope: district}",
            "{username: li, name: 李区长, scope: 'district:d', phone: '13900000000'}",
        )
    )
    assert [(s.username, s.level, s.scope_id) for s in site.supervisors] == [
        ("zhao", "street", "s"),
        ("sun", "community", "c"),
        ("wu", "grid", "g1"),
        ("qian", "district", None),
        ("li", "district", None),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{username: zhao, name: 赵, scope: 'street:nowhere'}", "unknown street 'nowhere'"),
        ("{username: zhao, name: 赵, scope: 'community:s'}", "unknown community 's'"),
        ("{username: zhao, name: 赵, scope: 'grid:g9'}", "unknown grid 'g9'"),
        ("{username: zhao, name: 赵, scope: 'district:other'}", "unknown district 'other'"),
        ("{username: zhao, name: 赵, scope: 'city'}", "scope"),
        ("{username: zhao, name: 赵, scope: 'street:'}", "scope"),
        ("{username: 'a b', name: 赵, scope: district}", "username"),
        ("{username: zhao, name: 赵, scope: district, rank: 3}", "rank"),
    ],
)
def test_bad_supervisors_are_refused_by_line(line: str, message: str) -> None:
    with pytest.raises(SiteFileError, match=message) as exc:
        parse_site(_with(line), "x.yaml")
    assert "x.yaml:" in str(exc.value)


def test_a_supervisor_is_listed_once() -> None:
    twice = _with(
        "{username: zhao, name: 赵, scope: 'street:s'}",
        "{username: zhao, name: 赵, scope: district}",
    )
    with pytest.raises(SiteFileError, match="supervisor usernames must be unique"):
        parse_site(twice)


def test_the_demo_site_still_loads() -> None:
    demo = Path(__file__).resolve().parents[2] / "sites" / "demo-district.yaml"
    assert load_site(demo).supervisors == []


def test_open311_keys_are_checked_without_showing_them() -> None:
    good = Settings(open311_keys={"k" * 16: "portal"})
    assert good.open311_keys == {"k" * 16: "portal"}
    assert "k" * 16 not in repr(good)
    with pytest.raises(ValidationError) as exc:
        Settings(open311_keys={"short-secret": "portal"})
    assert "short-secret" not in str(exc.value) and "portal" in str(exc.value)
