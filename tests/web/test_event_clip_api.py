"""GET /api/events/{id}/clip: the MP4 with HTTP Range (200, 206, 416), hostile Range headers,
tokens, clip_url in the event JSON, and evidence that retention removed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from web_helpers import RunningHub, detection, record

from hub.bus.contracts import DetectionEvent

CLIP = "snapshots/2026/11/30/ev.mp4"


@pytest.fixture
def operator(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['operator']}"}


@pytest.fixture
async def clip_event(hub: RunningHub) -> tuple[DetectionEvent, bytes]:
    path = hub.settings.data_dir / "evidence" / CLIP
    path.parent.mkdir(parents=True)
    # Not a real MP4: the route serves bytes; the browser test plays a real one.
    data = bytes(range(256)) * 40  # 10,240 bytes
    path.write_bytes(data)
    ev = detection(snapshot=CLIP.replace(".mp4", ".jpg"), clip=CLIP)
    await record(hub, ev)
    return ev, data


async def test_whole_clip_and_clip_url(
    hub: RunningHub, operator: dict[str, str], clip_event: tuple[DetectionEvent, bytes]
) -> None:
    ev, data = clip_event
    r = await hub.client.get(f"/api/events/{ev.id}/clip", headers=operator)
    assert r.status_code == 200
    assert r.headers["content-type"] == "video/mp4"
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["content-length"] == str(len(data)) and r.content == data
    assert r.headers["cache-control"] == "private"
    body = (await hub.client.get(f"/api/events/{ev.id}", headers=operator)).json()
    assert body["clip"] == CLIP and body["clip_url"] == f"/api/events/{ev.id}/clip"
    assert body["evidence_expired_at"] is None
    page = (await hub.client.get("/api/events", headers=operator)).json()
    assert page["items"][0]["clip_url"] == f"/api/events/{ev.id}/clip"


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=100-", 100, 10_239),
        ("bytes=-100", 10_140, 10_239),
        ("bytes=10239-10239", 10_239, 10_239),
        ("bytes=5000-999999999999999999999999", 5000, 10_239),  # clamped to the file
        ("bytes=-99999999", 0, 10_239),
        ("BYTES = 0-9", 0, 9),
    ],
)
async def test_ranges(
    hub: RunningHub,
    operator: dict[str, str],
    clip_event: tuple[DetectionEvent, bytes],
    header: str,
    first: int,
    last: int,
) -> None:
    ev, data = clip_event
    r = await hub.client.get(f"/api/events/{ev.id}/clip", headers={**operator, "Range": header})
    assert r.status_code == 206, r.text
    assert r.headers["content-range"] == f"bytes {first}-{last}/{len(data)}"
    assert r.headers["content-length"] == str(last - first + 1)
    assert r.content == data[first : last + 1]


@pytest.mark.parametrize("header", ["bytes=10240-", "bytes=99999-100000", "bytes=-0"])
async def test_unsatisfiable_range(
    hub: RunningHub, operator: dict[str, str], clip_event: tuple[DetectionEvent, bytes], header: str
) -> None:
    ev, data = clip_event
    r = await hub.client.get(f"/api/events/{ev.id}/clip", headers={**operator, "Range": header})
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{len(data)}"
    assert len(r.content) < 100


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ("bytes=9-1", 400),  # end before start
        ("bytes=abc", 400),
        ("items=0-1", 400),
        ("bytes", 400),
        ("bytes=" + "9" * 5000 + "-", 400),  # a number too long to parse: no range left
        ("bytes=" + ",".join(f"{i}-{i}" for i in range(0, 4000, 2)), 200),  # > 100: ignored
        ("bytes=" + ",".join("0-10239" for _ in range(100)), 206),  # merged into one
    ],
)
async def test_hostile_ranges_are_bounded(
    hub: RunningHub,
    operator: dict[str, str],
    clip_event: tuple[DetectionEvent, bytes],
    header: str,
    status: int,
) -> None:
    ev, data = clip_event
    r = await hub.client.get(f"/api/events/{ev.id}/clip", headers={**operator, "Range": header})
    assert r.status_code == status
    assert len(r.content) <= len(data)  # never more than the file
    assert "Traceback" not in r.text if status == 400 else True


async def test_many_small_ranges_are_multipart_and_bounded(
    hub: RunningHub, operator: dict[str, str], clip_event: tuple[DetectionEvent, bytes]
) -> None:
    ev, _ = clip_event
    header = "bytes=" + ",".join(f"{i}-{i}" for i in range(0, 200, 2))  # 100 one-byte ranges
    r = await hub.client.get(f"/api/events/{ev.id}/clip", headers={**operator, "Range": header})
    assert r.status_code == 206
    assert r.headers["content-type"].startswith("multipart/byteranges")
    assert len(r.content) < 100 * 200  # headers per part, no amplification beyond that


async def test_token_required(hub: RunningHub, clip_event: tuple[DetectionEvent, bytes]) -> None:
    ev, _ = clip_event
    r = await hub.client.get(f"/api/events/{ev.id}/clip", headers={"Range": "bytes=0-9"})
    assert r.status_code == 401
    r = await hub.client.get(f"/api/events/{ev.id}/clip", params={"access_token": "not-a-token"})
    assert r.status_code == 401


async def test_token_in_query_like_a_video_element(
    hub: RunningHub, tokens: dict[str, str], clip_event: tuple[DetectionEvent, bytes]
) -> None:
    ev, _ = clip_event
    r = await hub.client.get(
        f"/api/events/{ev.id}/clip",
        params={"access_token": tokens["operator"]},
        headers={"Range": "bytes=0-"},
    )
    assert r.status_code == 206


async def test_no_clip(hub: RunningHub, operator: dict[str, str]) -> None:
    ev = detection()
    await record(hub, ev)
    r = await hub.client.get(f"/api/events/{ev.id}/clip", headers=operator)
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert (await hub.client.get(f"/api/events/{ev.id}", headers=operator)).json()[
        "clip_url"
    ] is None
    missing = detection(clip="snapshots/none.mp4")  # recorded, but never written
    await record(hub, missing)
    r = await hub.client.get(f"/api/events/{missing.id}/clip", headers=operator)
    assert r.status_code == 404


@pytest.mark.parametrize("clip", ["../jwt.secret", "/etc/passwd", "link.mp4"])
async def test_clip_path_traversal_refused(
    hub: RunningHub, operator: dict[str, str], clip: str
) -> None:
    evidence = hub.settings.data_dir / "evidence"
    evidence.mkdir(parents=True, exist_ok=True)
    (evidence / "link.mp4").symlink_to(hub.settings.data_dir / "jwt.secret")
    ev = detection(clip=clip)
    await record(hub, ev)
    r = await hub.client.get(f"/api/events/{ev.id}/clip", headers=operator)
    assert r.status_code == 404
    secret = (hub.settings.data_dir / "jwt.secret").read_text().strip()
    assert secret not in r.text


async def test_expired_evidence_is_not_offered(
    hub: RunningHub, operator: dict[str, str], clip_event: tuple[DetectionEvent, bytes]
) -> None:
    ev, _ = clip_event
    snap = hub.settings.data_dir / "evidence" / Path(CLIP).with_suffix(".jpg")
    snap.write_bytes(b"\xff\xd8\xff\xe0fake-jpeg")
    marked = await hub.state.store.events.mark_evidence_expired([ev.id], datetime.now(UTC))
    assert marked == 1
    body = (await hub.client.get(f"/api/events/{ev.id}", headers=operator)).json()
    assert body["clip_url"] is None and body["snapshot_url"] is None
    assert body["evidence_expired_at"] is not None and body["clip"] == CLIP
    for what in ("clip", "snapshot"):
        r = await hub.client.get(f"/api/events/{ev.id}/{what}", headers=operator)
        assert r.status_code == 404, what
