"""Photos are checked by content, cleaned and kept where no request can name a path; workers see
only their own."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from web.web_helpers import RunningHub, make_settings, run_hub_with_users

from hub.dispatch.photos import InvalidPhotoError, reencode, sniff


def _jpeg(w: int = 64, h: int = 48) -> bytes:
    img = np.full((h, w, 3), 128, np.uint8)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return buf.tobytes()


def _png(w: int = 32, h: int = 16) -> bytes:
    ok, buf = cv2.imencode(".png", np.zeros((h, w, 3), np.uint8))
    assert ok
    return buf.tobytes()


def test_sniff_reads_the_stated_size() -> None:
    assert (sniff(_jpeg()).kind, sniff(_jpeg()).width, sniff(_jpeg()).height) == ("jpeg", 64, 48)
    assert (sniff(_png()).kind, sniff(_png()).width, sniff(_png()).height) == ("png", 32, 16)


@pytest.mark.parametrize(
    "data",
    [
        b"<html><script>alert(1)</script></html>",
        b"GIF89a" + b"\0" * 100,
        b"\xff\xd8\xff",  # a JPEG start and nothing else
        _jpeg()[:20],
        b"\x89PNG\r\n\x1a\n" + b"\0" * 8,
        b"",
    ],
)
def test_anything_but_a_photo_is_refused(data: bytes) -> None:
    with pytest.raises(InvalidPhotoError):
        sniff(data)


def test_a_huge_stated_size_is_refused_before_decoding() -> None:
    # A PNG header claiming 60000 x 60000 pixels, in 33 bytes.
    ihdr = struct.pack(">II", 60000, 60000) + b"\x08\x02\x00\x00\x00"
    bomb = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + b"\0\0\0\0"
    with pytest.raises(InvalidPhotoError, match="8192"):
        reencode(bomb)


def test_reencoding_drops_metadata_and_appended_payloads() -> None:
    jpeg = _jpeg()
    exif = b"Exif\0\0GPS 31.8N 120.0E phone-serial-123"
    with_exif = jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif + jpeg[2:]
    polyglot = with_exif + b"<?php system($_GET['c']); ?>"
    out, w, h = reencode(polyglot)
    assert (w, h) == (64, 48)
    assert b"phone-serial" not in out and b"<?php" not in out
    assert sniff(out).kind == "jpeg"


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[RunningHub]:
    async with run_hub_with_users(make_settings(tmp_path)) as h:
        await h.state.store.users.create("worker2", "worker", "worker2-pass-1")
        yield h


async def _upload(hub: RunningHub, headers: dict[str, str], data: bytes) -> dict[str, object]:
    r = await hub.client.post(
        "/api/photos", content=data, headers={**headers, "Content-Type": "image/jpeg"}
    )
    assert r.status_code == 201, r.text
    body: dict[str, object] = r.json()
    return body


async def test_upload_view_and_who_sees_what(hub: RunningHub) -> None:
    worker = await hub.auth("worker")
    op = await hub.auth("operator")
    other = {"Authorization": f"Bearer {await hub.login('worker2', 'worker2-pass-1')}"}
    photo = await _upload(hub, worker, _png())
    assert (photo["width"], photo["height"]) == (32, 16)
    for headers, status in ((worker, 200), (op, 200), (other, 404)):
        r = await hub.client.get(f"/api/photos/{photo['id']}", headers=headers)
        assert r.status_code == status
    r = await hub.client.get(f"/api/photos/{photo['id']}", headers=worker)
    assert r.headers["content-type"] == "image/jpeg" and r.content[:3] == b"\xff\xd8\xff"
    stored = list((hub.settings.data_dir / "photos").iterdir())
    assert [p.name for p in stored] == [f"{photo['id']}.jpg"]
    assert stored[0].stat().st_mode & 0o077 == 0


async def test_bad_uploads_are_refused(hub: RunningHub) -> None:
    worker = await hub.auth("worker")
    for data, status in (
        (b"<html></html>", 422),
        (b"\xff\xd8\xff" + b"\0" * (11 * 1024 * 1024), 413),
    ):
        r = await hub.client.post(
            "/api/photos", content=data, headers={**worker, "Content-Type": "image/jpeg"}
        )
        assert r.status_code == status, r.text
    # (A bare ../ is resolved by the client before it is sent: it never reaches the route.)
    for bad in ("..%2F..%2Fhub.db", "%2e%2e%2fjwt.secret", "A" * 32, "0" * 31, "0" * 32):
        r = await hub.client.get(f"/api/photos/{bad}", headers=worker)
        assert r.status_code in (404, 422)
    r = await hub.client.post("/api/photos", content=_jpeg())
    assert r.status_code == 401
    assert not (hub.settings.data_dir / "photos").exists() or not list(
        (hub.settings.data_dir / "photos").glob("*.jpg")
    )


async def test_a_patrol_report_handled_on_the_spot_waits_for_the_check(hub: RunningHub) -> None:
    worker = await hub.auth("worker")
    op = await hub.auth("operator")
    photo = await _upload(hub, worker, _jpeg())
    r = await hub.client.post(
        "/api/reports",
        json={
            "category": "11.01",  # 暴露垃圾: may be handled on the spot
            "title": "路边垃圾",
            "position": [119.95, 31.81],
            "photos": [photo["id"]],
            "on_spot": True,
        },
        headers=worker,
    )
    assert r.status_code == 201, r.text
    case = r.json()
    assert (case["state"], case["assignee"], case["source"]) == ("handled", "worker", "worker")
    detail = (await hub.client.get(f"/api/cases/{case['id']}", headers=op)).json()
    assert [e["kind"] for e in detail["evidence"]] == ["photo"]
    r = await hub.client.post(
        f"/api/cases/{case['id']}/actions",
        json={"action": "check_pass", "version": case["version"]},
        headers=op,
    )
    assert r.status_code == 200 and r.json()["state"] == "closed"
    # Not every category may be handled on the spot; an operator cannot file a patrol report.
    r = await hub.client.post(
        "/api/reports",
        json={"category": "14.01", "title": "火", "position": [119.95, 31.81], "on_spot": True},
        headers=worker,
    )
    assert r.status_code == 422
    r = await hub.client.post(
        "/api/reports",
        json={"category": "11.01", "title": "x", "position": [119.95, 31.81]},
        headers=op,
    )
    assert r.status_code == 403


async def test_feedback_only_with_the_workers_own_photos(hub: RunningHub) -> None:
    op = await hub.auth("operator")
    worker = await hub.auth("worker")
    other = {"Authorization": f"Bearer {await hub.login('worker2', 'worker2-pass-1')}"}
    theirs = await _upload(hub, other, _jpeg())
    mine = await _upload(hub, worker, _jpeg())
    r = await hub.client.post(
        "/api/cases", json={"category": "02.01", "title": "t", "grid_id": "g1"}, headers=op
    )
    case = r.json()
    for action, headers, extra in (
        ("accept", op, {}),
        ("open", op, {}),
        ("dispatch", op, {"assignee": "worker"}),
        ("receive", worker, {}),
    ):
        r = await hub.client.post(
            f"/api/cases/{case['id']}/actions",
            json={"action": action, "version": case["version"], **extra},
            headers=headers,
        )
        assert r.status_code == 200, r.text
        case = r.json()
    r = await hub.client.post(
        f"/api/cases/{case['id']}/actions",
        json={"action": "feedback", "version": case["version"], "photos": [theirs["id"]]},
        headers=worker,
    )
    assert r.status_code == 422
    r = await hub.client.post(
        f"/api/cases/{case['id']}/actions",
        json={"action": "feedback", "version": case["version"], "photos": [mine["id"]]},
        headers=worker,
    )
    assert r.status_code == 200 and r.json()["state"] == "handled"
    # The assigned worker's photo on the case is visible to the center.
    assert (await hub.client.get(f"/api/photos/{mine['id']}", headers=op)).status_code == 200
