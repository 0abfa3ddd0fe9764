"""Citizen reports over Open311 GeoReport v2 on the real server: the services are the case
categories, a keyed POST becomes a citizen case in its grid, the public status carries no
personal data and follows the case to its close, and every error is the spec's array."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from web.web_helpers import RunningHub, make_settings, run_hub_with_users

from hub.config import Settings

BASE = "/api/open311/v2"
KEY = "k-0123456789abcdef-citizen-app"
OTHER_KEY = "k-fedcba9876543210-portal"
READ_KEY = "k-00112233445566778899-board"
IN_G1 = {"lat": "31.82", "long": "119.98"}
"""Inside grid g1 (street s1, community c1) of the test site."""
PERSONAL = {
    "first_name": "Xiaoming",
    "last_name": "Zhang",
    "email": "zhang.xm@example.cn",
    "phone": "+86 139 0000 1234",
}


def _settings(tmp_path: Path, per_minute: int = 60) -> Settings:
    keys = {KEY: "citizen-app", OTHER_KEY: "portal", READ_KEY: "status-board"}
    return make_settings(tmp_path, open311_keys=keys, open311_per_minute=per_minute)


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[RunningHub]:
    async with run_hub_with_users(_settings(tmp_path)) as h:
        yield h


async def _get(hub: RunningHub, path: str, key: str | None = READ_KEY) -> Any:
    """Reads need a key too (their own here, apart from the reporting clients' rate)."""
    if key:
        path += ("&" if "?" in path else "?") + f"api_key={key}"
    return await hub.client.get(path)


async def _post(hub: RunningHub, **fields: str) -> Any:
    return await hub.client.post(f"{BASE}/requests.json", data=fields)


def _report(**kw: str) -> dict[str, str]:
    return {
        "api_key": KEY,
        "service_code": "02.01",
        "description": "路面塌陷一个大坑",
        **IN_G1,
        **kw,
    }


async def _step(hub: RunningHub, who: dict[str, str], case: dict[str, Any], action: str, **kw: Any):  # type: ignore[no-untyped-def]
    r = await hub.client.post(
        f"/api/cases/{case['id']}/actions",
        json={"action": action, "version": case["version"], **kw},
        headers=who,
    )
    assert r.status_code == 200, r.text
    return r.json()


def _assert_error(r: Any, status: int) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert isinstance(body, list) and len(body) == 1, body
    assert body[0]["code"] == status and body[0]["description"]
    description: str = body[0]["description"]
    return description


async def test_services_are_the_case_categories(hub: RunningHub) -> None:
    r = await _get(hub, f"{BASE}/services.json")
    assert r.status_code == 200, r.text
    services = {s["service_code"]: s for s in r.json()}
    cat = services["01.02"]
    assert cat["group"] == "公用设施" and cat["type"] == "realtime" and cat["metadata"] is False
    assert "井盖" in cat["service_name"] and cat["keywords"] and cat["description"]
    r = await _get(hub, f"{BASE}/services/01.02.json")
    assert r.json() == {"service_code": "01.02", "attributes": []}
    assert "99.99" in _assert_error(await _get(hub, f"{BASE}/services/99.99.json"), 404)
    _assert_error(await _get(hub, f"{BASE}/services.xml"), 400)


async def test_a_report_becomes_a_citizen_case_in_its_grid(
    hub: RunningHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    r = await _post(hub, **_report(media_url="https://img.example.cn/p/1.jpg", **PERSONAL))
    assert r.status_code == 201, r.text
    [created] = r.json()
    assert set(created) >= {"service_request_id", "service_notice"}
    case_id = created["service_request_id"]
    assert "预计" in created["service_notice"]

    op = await hub.auth("operator")
    detail = (await hub.client.get(f"/api/cases/{case_id}", headers=op)).json()
    assert (detail["source"], detail["category"], detail["state"]) == (
        "citizen",
        "02.01",
        "reported",
    )
    assert (detail["grid_id"], detail["community_id"], detail["street_id"]) == ("g1", "c1", "s1")
    assert detail["reporter"] == "open311:citizen-app"
    # The center keeps the contact to call back, and the media link as text.
    [note] = detail["evidence"]
    assert note["detail"]["contact"]["phone"] == PERSONAL["phone"]
    assert note["detail"]["media_url"] == "https://img.example.cn/p/1.jpg"

    # The public sees the status, never the person.
    r = await _get(hub, f"{BASE}/requests/{case_id}.json")
    assert r.status_code == 200, r.text
    [req] = r.json()
    assert req["service_request_id"] == case_id and req["status"] == "open"
    assert req["service_code"] == "02.01" and "道路破损" in req["service_name"]
    assert req["agency_responsible"] and req["expected_datetime"].endswith("+08:00")
    assert (req["lat"], req["long"]) == (31.82, 119.98)
    assert req["media_url"] == "https://img.example.cn/p/1.jpg"
    listed = (await _get(hub, f"{BASE}/requests.json")).text
    for text in (r.text, listed):
        for value in (*PERSONAL.values(), "139 0000", "citizen-app", "contact"):
            assert value not in text
    # The key is a secret: in no log line.
    assert all(KEY not in rec.getMessage() for rec in caplog.records)


async def test_json_and_address_only_reports(hub: RunningHub) -> None:
    body = {"api_key": OTHER_KEY, "service_code": "02.01", "address_string": "河海路 12 号门前"}
    r = await hub.client.post(f"{BASE}/requests.json", json=body)
    assert r.status_code == 201, r.text
    [req] = (await _get(hub, f"{BASE}/requests/{r.json()[0]['service_request_id']}.json")).json()
    assert req["address"] == "河海路 12 号门前" and req["lat"] is None


async def test_bad_keys_are_403_and_bad_input_400(hub: RunningHub) -> None:
    _assert_error(await _post(hub, **_report(api_key="not-a-key-but-long-enough")), 403)
    no_key = _report()
    del no_key["api_key"]
    _assert_error(await _post(hub, **no_key), 403)
    assert "99.99" in _assert_error(await _post(hub, **_report(service_code="99.99")), 400)
    assert "service_code" in _assert_error(await _post(hub, **_report(service_code="x")), 400)
    assert "lat" in _assert_error(await _post(hub, **_report(lat="91")), 400)
    _assert_error(await _post(hub, **_report(long="nan")), 400)
    _assert_error(await _post(hub, **_report(lat="31.82", long="")), 400)  # lat without long
    assert "outside" in _assert_error(await _post(hub, **_report(lat="10", long="10")), 400)
    too_long = _assert_error(await _post(hub, **_report(description="坑" * 2001)), 400)
    assert "description" in too_long and "坑坑" not in too_long  # values are never echoed
    _assert_error(await _post(hub, **_report(email="not an email")), 400)
    _assert_error(await _post(hub, **_report(media_url="file:///etc/passwd")), 400)
    no_place = {"api_key": KEY, "service_code": "02.01"}
    _assert_error(await _post(hub, **no_place), 400)
    r = await hub.client.post(
        f"{BASE}/requests.json", content=b"<x/>", headers={"content-type": "text/xml"}
    )
    _assert_error(r, 415)
    r = await hub.client.post(
        f"{BASE}/requests.json", content=b"[1]", headers={"content-type": "application/json"}
    )
    _assert_error(r, 400)
    # Refused reports opened nothing.
    assert (await _get(hub, f"{BASE}/requests.json")).json() == []
    _assert_error(await _get(hub, f"{BASE}/requests/99.json"), 404)
    _assert_error(await _get(hub, f"{BASE}/requests/0.json"), 400)
    _assert_error(await _get(hub, f"{BASE}/requests.json?page_size=1000"), 400)
    _assert_error(await _get(hub, f"{BASE}/requests.json?status=maybe"), 400)
    _assert_error(await _get(hub, f"{BASE}/requests.json?service_request_id=1,x"), 400)
    span = "start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z"
    assert "90 days" in _assert_error(await _get(hub, f"{BASE}/requests.json?{span}"), 400)


async def test_each_key_is_rate_limited(tmp_path: Path) -> None:
    async with run_hub_with_users(_settings(tmp_path, per_minute=3)) as hub:
        for _ in range(3):
            assert (await _post(hub, **_report())).status_code == 201
        r = await _post(hub, **_report())
        _assert_error(r, 429)
        assert int(r.headers["retry-after"]) >= 1
        # Another client has its own allowance.
        assert (await _post(hub, **_report(api_key=OTHER_KEY))).status_code == 201


async def test_status_follows_the_case_to_its_close(hub: RunningHub) -> None:
    op, sup, worker = (
        await hub.auth("operator"),
        await hub.auth("supervisor"),
        await hub.auth("worker"),
    )
    first = (await _post(hub, **_report())).json()[0]["service_request_id"]
    other = (await _post(hub, **_report(service_code="01.02"))).json()[0]["service_request_id"]
    # A case from another source is not a citizen request.
    r = await hub.client.post(
        "/api/cases", json={"category": "02.01", "title": "x", "grid_id": "g1"}, headers=op
    )
    assert r.status_code == 201
    internal = r.json()["id"]
    _assert_error(await _get(hub, f"{BASE}/requests/{internal}.json"), 404)

    case = (await hub.client.get(f"/api/cases/{first}", headers=op)).json()
    case = await _step(hub, op, case, "accept")
    case = await _step(hub, op, case, "open")
    case = await _step(hub, op, case, "dispatch", assignee="worker")
    case = await _step(hub, worker, case, "receive")
    [req] = (await _get(hub, f"{BASE}/requests/{first}.json")).json()
    assert req["status"] == "open" and "处置中" in req["status_notes"]
    case = await _step(hub, worker, case, "feedback", note="内部备注：已联系施工队老王")
    case = await _step(hub, sup, case, "check_pass")
    [req] = (await _get(hub, f"{BASE}/requests/{first}.json")).json()
    assert req["status"] == "closed" and "结案" in req["status_notes"]
    assert "老王" not in str(req)  # internal notes stay internal

    def ids(r: Any) -> list[str]:
        return [x["service_request_id"] for x in r.json()]

    assert ids(await _get(hub, f"{BASE}/requests.json")) == [other, first]
    assert ids(await _get(hub, f"{BASE}/requests.json?status=closed")) == [first]
    assert ids(await _get(hub, f"{BASE}/requests.json?status=open")) == [other]
    assert ids(await _get(hub, f"{BASE}/requests.json?service_code=01.02,03.01")) == [other]
    got = await _get(hub, f"{BASE}/requests.json?service_request_id={first},{internal}")
    assert ids(got) == [first]
    assert ids(await _get(hub, f"{BASE}/requests.json?page_size=1&page=2")) == [first]
    old = "start_date=2020-01-01T00:00:00Z&end_date=2020-02-01T00:00:00Z"
    assert ids(await _get(hub, f"{BASE}/requests.json?{old}")) == []


async def test_reads_need_a_key_too(hub: RunningHub) -> None:
    for path in ("services.json", "services/01.02.json", "requests.json", "requests/1.json"):
        for key in (None, "not-a-key-but-long-enough"):
            r = await _get(hub, f"{BASE}/{path}", key=key)
            assert r.status_code == 403, (path, key, r.text)
            assert r.json() == [{"code": 403, "description": "a valid api_key is required"}]
