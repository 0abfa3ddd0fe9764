"""The event history's filters: a place (grid, street), a search over camera names and places,
type and time, combined, paged on the server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from web_helpers import RunningHub, detection, record


async def _ids(hub: RunningHub, headers: dict[str, str], **params: Any) -> list[str]:
    r = await hub.client.get("/api/events", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return [e["camera_id"] for e in r.json()["items"]]


async def test_place_and_search_filters(hub: RunningHub) -> None:
    op = await hub.auth("operator")
    now = datetime.now(UTC)
    await record(
        hub,
        detection("cam-a", start=now - timedelta(hours=2)),
        detection("cam-b", grid_id="g2", type="line_crossing", zone_id=None, line_id="l1",
                  direction="forward", start=now - timedelta(minutes=5)),
    )  # fmt: skip
    assert await _ids(hub, op) == ["cam-b", "cam-a"]
    assert await _ids(hub, op, grid_id="g1") == ["cam-a"]
    assert await _ids(hub, op, grid_id="g2") == ["cam-b"]
    assert await _ids(hub, op, street_id="s1") == ["cam-b", "cam-a"]
    assert await _ids(hub, op, street_id="nowhere") == []
    # Words match the camera's name and its place, case-insensitively, every word.
    assert await _ids(hub, op, q="三井桥") == ["cam-b"]
    assert await _ids(hub, op, q="第一网格") == ["cam-a"]
    assert await _ids(hub, op, q="CAM-A 河海") == ["cam-a"]
    assert await _ids(hub, op, q="第一网格 三井桥") == []
    # Combined with type and time.
    assert await _ids(hub, op, street_id="s1", type="intrusion") == ["cam-a"]
    since = (now - timedelta(hours=1)).isoformat()
    assert await _ids(hub, op, street_id="s1", since=since) == ["cam-b"]


async def test_filters_are_bounded(hub: RunningHub) -> None:
    op = await hub.auth("operator")
    for params in ({"q": "x" * 65}, {"grid_id": "g\x00"}, {"q": "a\nb"}):
        r = await hub.client.get("/api/events", params=params, headers=op)
        assert r.status_code == 422, (params, r.text)
    r = await hub.client.get("/api/events", params={"q": "河海"})
    assert r.status_code == 401
