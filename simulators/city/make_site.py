"""Generate ``sites/demo-district.yaml``: 新北区 (Changzhou) with 4 streets, 12 communities,
48 grids, 16 simulated cameras whose zones/lines/masks come from their scenes, the sensor
fleet: 7 device profiles and 432 devices (simulators/sensors/catalog.py), and the workers: a
grid worker per community owning its 4 grids, and a few department staff.

    python -m simulators.city.make_site [--out sites/demo-district.yaml] [--port 8554]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from simulators.cameras.scenes import build_scene
from simulators.city.plan import plan_for
from simulators.sensors.catalog import build_devices, device_profiles

LON0, LON1 = 119.90, 120.00
LAT0, LAT1 = 31.80, 31.90
CAMERAS = 16
DRONE_SCENE = "plaza"
"""What the drones see (``simulators.drones.fleet.SCENE``)."""
DRONES = [("uav-xinbei-01", "巡逻无人机一号 Patrol drone 1", 5)]
"""(unit id, name, index of the grid cell it takes off from)."""

STREETS: list[tuple[str, str, list[tuple[str, str]]]] = [
    (
        "sanjing",
        "三井街道",
        [("xsf", "秀水坊社区"), ("xjhy", "新景花园社区"), ("xbw", "香槟湾社区")],
    ),
    ("hehai", "河海街道", [("cjhy", "春江花园社区"), ("fchy", "府琛花园社区"), ("ts", "泰山社区")]),
    ("xuejia", "薛家镇", [("sy", "顺园社区"), ("fm", "富民社区"), ("xj", "薛家社区")]),
    (
        "longhutang",
        "龙虎塘街道",
        [("lht", "龙虎塘社区"), ("tzq", "汤庄桥社区"), ("ply", "盘龙苑社区")],
    ),
]
_PLACE = {"gate": "小区门口", "crossing": "人行横道", "plaza": "广场", "street": "消防通道"}

# One full-time grid worker (专职网格员) per community, in the order of STREETS.
GRID_WORKERS: list[tuple[str, str, list[str]]] = [
    ("陈秀英", "13861205371", ["patrol", "mediation"]),
    ("王建国", "13915082246", ["patrol", "fire-safety"]),
    ("李娟", "15061923318", ["patrol", "elderly-care"]),
    ("张伟", "13771526604", ["patrol", "first-aid"]),
    ("刘桂兰", "18961207745", ["patrol", "mediation"]),
    ("周志强", "13806127719", ["patrol", "electrical"]),
    ("吴丽华", "15251906683", ["patrol", "elderly-care"]),
    ("徐海涛", "13961433028", ["patrol", "fire-safety"]),
    ("孙晓燕", "18706125590", ["patrol", "first-aid"]),
    ("朱明", "13584372216", ["patrol", "mediation"]),
    ("马玉梅", "15195038847", ["patrol", "elderly-care"]),
    ("胡俊", "13915034479", ["patrol", "electrical"]),
]
# Department field staff: no grid of their own, sent where their department's cases are.
DEPARTMENT_WORKERS: list[dict[str, Any]] = [
    {"username": "cg-xinbei-01", "name": "黄志刚", "department": "urban-management",
     "skills": ["law-enforcement"], "phone": "13813590162"},
    {"username": "cg-xinbei-02", "name": "杨帆", "department": "urban-management",
     "skills": ["law-enforcement"], "phone": "15961270384"},
    {"username": "sz-xinbei-01", "name": "赵永强", "department": "municipal",
     "skills": ["manhole", "road-repair"], "phone": "13706142958"},
    {"username": "hw-xinbei-01", "name": "钱红梅", "department": "sanitation",
     "skills": ["cleaning"], "phone": "18915096327"},
]  # fmt: skip


def _box(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    r = [
        [round(x0, 6), round(y0, 6)],
        [round(x1, 6), round(y0, 6)],
        [round(x1, 6), round(y1, 6)],
        [round(x0, 6), round(y1, 6)],
    ]
    return [*r, r[0]]


def build_workers(streets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``wg-<community id>`` owns that community's grids; then the department staff."""
    communities = [c for s in streets for c in s["communities"]]
    workers = [
        {
            "username": f"wg-{c['id']}",
            "name": name,
            "grids": [g["id"] for g in c["grids"]],
            "skills": skills,
            "phone": phone,
        }
        for c, (name, phone, skills) in zip(communities, GRID_WORKERS, strict=True)
    ]
    return workers + [dict(w) for w in DEPARTMENT_WORKERS]


def build_drones(cells: list[tuple[str, str, float, float, float, float]]) -> list[dict[str, Any]]:
    """The patrol drones: they publish their video to the hub (WHIP) from where they fly."""
    out = []
    for unit_id, name, cell in DRONES:
        gid, _cname, x0, y0, x1, y1 = cells[cell]
        scene = build_scene(DRONE_SCENE, width=640, height=360, fps=15, duration=20, seed=0)
        out.append(
            scene.camera_entry(
                unit_id,
                name=name,
                url="whip://",
                kind="drone",
                grid=gid,
                # Where it takes off; its telemetry moves it on the map from there.
                position=[round((x0 + x1) / 2, 6), round((y0 + y1) / 2, 6)],
                analysis_fps=5,
                # A flying camera's view moves by design: "moved" would be raised all along.
                tampering=False,
            )
        )
    return out


def build_site(port: int = 8554) -> dict[str, Any]:
    # Streets are the quadrants of the district box, communities vertical strips of a street,
    # grids the 2x2 cells of a community: a tidy tessellation with no gaps or overlaps.
    dlon, dlat = (LON1 - LON0) / 2, (LAT1 - LAT0) / 2
    streets: list[dict[str, Any]] = []
    cells: list[tuple[str, str, float, float, float, float]] = []  # per street, in order
    for si, (sid, sname, comms) in enumerate(STREETS):
        sx0, sy0 = LON0 + (si % 2) * dlon, LAT1 - (si // 2 + 1) * dlat
        communities = []
        for ci, (cid_short, cname) in enumerate(comms):
            cx0 = sx0 + ci * dlon / 3
            cw = dlon / 3
            grids = []
            for gi in range(4):
                gx0 = cx0 + (gi % 2) * cw / 2
                gy0 = sy0 + (1 - gi // 2) * dlat / 2
                gid = f"{sid}-{cid_short}-g{gi + 1}"
                geom = _box(gx0, gy0, gx0 + cw / 2, gy0 + dlat / 2)
                grids.append(
                    {
                        "id": gid,
                        "name": f"{sname}-{cname}-第{gi + 1}网格",
                        "geometry": {"type": "Polygon", "coordinates": [geom]},
                        "households": 300 + (si * 97 + ci * 41 + gi * 53) % 300,
                    }
                )
                cells.append((gid, cname, gx0, gy0, gx0 + cw / 2, gy0 + dlat / 2))
            communities.append({"id": f"{sid}-{cid_short}", "name": cname, "grids": grids})
        streets.append({"id": sid, "name": sname, "communities": communities})

    cameras = []
    for n in range(1, CAMERAS + 1):
        cam_id = f"cam-xinbei-{n:03d}"
        plan = plan_for(cam_id)
        # Spread the cameras: 4 per street, in different communities and grid cells.
        street, k = ((n - 1) + (n - 1) // 4) % 4, (n - 1) // 4
        gid, cname, x0, y0, x1, y1 = cells[street * 12 + (k % 3) * 4 + (k * 3) % 4]
        fx, fy = 0.3 + 0.4 * ((n * 37) % 10) / 10, 0.3 + 0.4 * ((n * 53) % 10) / 10
        scene = build_scene(plan.scene, width=1280, height=720, fps=15, duration=20, seed=0)
        cameras.append(
            scene.camera_entry(
                cam_id,
                name=f"{cname}{_PLACE[plan.scene]}",
                url=f"rtsp://127.0.0.1:{port}/{cam_id}",
                # Analysed on the sub stream, as Frigate advises: the core works at 256 px wide
                # anyway, and decoding 640x360 costs a quarter of 1280x720. Small wall tiles
                # play it too; an enlarged tile plays the main stream.
                sub_url=f"rtsp://127.0.0.1:{port}/{cam_id}/sub",
                analysis_stream="sub",
                grid=gid,
                position=[round(x0 + fx * (x1 - x0), 6), round(y0 + fy * (y1 - y0), 6)],
                heading=float((n * 67) % 360),
                analysis_fps=5,
            )
        )
    cameras += build_drones(cells)
    return {
        "site": {"name": "新北区市域社会治理指挥中心（演示）", "timezone": "Asia/Shanghai"},
        "district": {"id": "xinbei", "name": "新北区", "streets": streets},
        "cameras": cameras,
        "device_profiles": device_profiles(),
        "devices": build_devices(cells),
        "workers": build_workers(streets),
    }


class _Dumper(yaml.SafeDumper):
    """No anchors/aliases, and coordinate pairs on one line: a readable file."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = all(isinstance(v, int | float) for v in data) or all(
        isinstance(v, list) and all(isinstance(x, int | float) for x in v) for v in data
    )
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow and bool(data))


_Dumper.add_representer(list, _list)


def write_site(path: Path, port: int = 8554) -> Path:
    data = build_site(port)
    text = (
        "# Generated by `python -m simulators.city.make_site`; do not edit by hand.\n"
        "# Cameras are served by `python -m simulators city`; zones/lines/masks match the\n"
        "# scene each camera shows (simulators/city/plan.py). Devices are simulated by\n"
        "# `python -m simulators city --mqtt URL` (simulators/sensors).\n"
        + yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=120)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--out", type=Path, default=Path("sites/demo-district.yaml"))
    ap.add_argument("--port", type=int, default=8554)
    args = ap.parse_args()
    write_site(args.out, args.port)


if __name__ == "__main__":
    main()
