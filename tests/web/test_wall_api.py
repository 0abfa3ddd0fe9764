"""``/api/wall/layouts`` and ``/api/wall/tours``: CRUD, roles and input bounds."""

from __future__ import annotations

from typing import Any

import pytest
from web_helpers import RunningHub

LAYOUT = {
    "name": "早高峰 Morning peak",
    "grid": "4",
    "tiles": [{"camera_id": "cam-a", "stream": "sub"}, {"camera_id": "cam-b"}, {}],
}
TOUR = {
    "name": "河海巡查 Hehai patrol",
    "grid": "4",
    "groups": [{"tiles": [0, 1], "cameras": ["cam-a", "cam-b"], "dwell_seconds": 10}],
}


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(("kind", "body"), [("layouts", LAYOUT), ("tours", TOUR)])
async def test_crud(hub: RunningHub, tokens: dict[str, str], kind: str, body: Any) -> None:
    op = _h(tokens["operator"])
    url = f"/api/wall/{kind}"
    r = await hub.client.post(url, json=body, headers=op)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["name"] == body["name"] and made["updated_by"] == "operator"
    item = f"{url}/{made['id']}"
    if kind == "layouts":
        assert made["tiles"][1] == {"camera_id": "cam-b", "stream": "auto"}
        assert made["tiles"][2] == {"camera_id": None, "stream": "auto"}
    else:
        assert made["groups"][0]["dwell_seconds"] == 10
    # Every wall role reads it.
    for role in ("admin", "supervisor"):
        listed = await hub.client.get(url, headers=_h(tokens[role]))
        assert [x["id"] for x in listed.json()] == [made["id"]]
        assert (await hub.client.get(item, headers=_h(tokens[role]))).json() == made
    # The same name twice is a conflict.
    assert (await hub.client.post(url, json=body, headers=op)).status_code == 409
    renamed = {**body, "name": "夜间 Night", "grid": "9"}
    r = await hub.client.put(item, json=renamed, headers=_h(tokens["admin"]))
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "夜间 Night" and r.json()["updated_by"] == "admin"
    assert (await hub.client.delete(item, headers=op)).status_code == 204
    assert (await hub.client.get(item, headers=op)).status_code == 404
    assert (await hub.client.delete(item, headers=op)).status_code == 404
    assert (await hub.client.put(item, json=body, headers=op)).status_code == 404


@pytest.mark.parametrize(("kind", "body"), [("layouts", LAYOUT), ("tours", TOUR)])
async def test_roles(hub: RunningHub, tokens: dict[str, str], kind: str, body: Any) -> None:
    url = f"/api/wall/{kind}"
    for role in ("supervisor", "worker", "device"):
        r = await hub.client.post(url, json=body, headers=_h(tokens[role]))
        assert r.status_code == 403, (role, r.text)
    for role in ("worker", "device"):
        assert (await hub.client.get(url, headers=_h(tokens[role]))).status_code == 403
    made = (await hub.client.post(url, json=body, headers=_h(tokens["operator"]))).json()
    item = f"{url}/{made['id']}"
    for role in ("supervisor", "worker"):
        assert (await hub.client.delete(item, headers=_h(tokens[role]))).status_code == 403
        assert (await hub.client.put(item, json=body, headers=_h(tokens[role]))).status_code == 403
    assert (await hub.client.get(url)).status_code == 401


def _tour(**group: Any) -> dict[str, Any]:
    return {**TOUR, "groups": [{**TOUR["groups"][0], **group}]}  # type: ignore[dict-item]


def _group(tile: int) -> dict[str, Any]:
    return {**TOUR["groups"][0], "cameras": ["cam-a"] * 200, "tiles": [tile]}  # type: ignore[dict-item]


BAD_LAYOUTS = [
    {**LAYOUT, "name": ""},
    {**LAYOUT, "name": "   "},
    {**LAYOUT, "name": "x" * 65},
    {**LAYOUT, "grid": "25"},
    {**LAYOUT, "tiles": [{}] * 65},
    {**LAYOUT, "tiles": [{"camera_id": "cam-zzz"}]},  # not on the site
    {**LAYOUT, "tiles": [{"camera_id": "cam-a", "stream": "hd"}]},
    {**LAYOUT, "extra": 1},
]
BAD_TOURS = [
    {**TOUR, "name": "x" * 65},
    _tour(dwell_seconds=4),
    _tour(dwell_seconds=3601),
    _tour(tiles=[]),
    _tour(tiles=[0, 0]),
    _tour(tiles=[64]),
    _tour(tiles=list(range(65))),
    _tour(cameras=[]),
    _tour(cameras=["cam-a"] * 257),
    _tour(cameras=["cam-nope"]),
    {**TOUR, "groups": []},
    {**TOUR, "groups": [TOUR["groups"][0], TOUR["groups"][0]]},  # a tile in two groups
    {**TOUR, "groups": [_group(i) for i in range(2)]},  # 400 cameras in all
]


@pytest.mark.parametrize("body", BAD_LAYOUTS)
async def test_layout_bounds(hub: RunningHub, tokens: dict[str, str], body: Any) -> None:
    r = await hub.client.post("/api/wall/layouts", json=body, headers=_h(tokens["operator"]))
    assert r.status_code == 422, r.text


@pytest.mark.parametrize("body", BAD_TOURS)
async def test_tour_bounds(hub: RunningHub, tokens: dict[str, str], body: Any) -> None:
    r = await hub.client.post("/api/wall/tours", json=body, headers=_h(tokens["operator"]))
    assert r.status_code == 422, r.text


async def test_limits_accepted_at_the_edge(hub: RunningHub, tokens: dict[str, str]) -> None:
    op = _h(tokens["operator"])
    edge = {"name": "x" * 64, "grid": "16", "tiles": [{"camera_id": "cam-a"}] * 64}
    assert (await hub.client.post("/api/wall/layouts", json=edge, headers=op)).status_code == 201
    tour = {**_tour(dwell_seconds=3600, cameras=["cam-a", "cam-b"] * 128), "name": "y" * 64}
    assert (await hub.client.post("/api/wall/tours", json=tour, headers=op)).status_code == 201
    assert (await hub.client.get("/api/wall/layouts/0", headers=op)).status_code == 422
