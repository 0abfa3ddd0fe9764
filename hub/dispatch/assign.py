"""Whom to send a case to, with the reasons (派遣建议).

Workers on call first (on duty and heard from), then those off duty or offline. Among each: the
grid's own workers first (专职网格员), then workers of the same community, then of the same
street, then the rest; inside each rank, available workers before busy ones, then workers of
the case's department, then workers with a skill the category asks for (a manhole for
``manhole``), then the nearest (from their last GPS fix), then by how many running cases they
hold. Workers whose accounts are missing or
disabled are left out. Pure: the service hands in the workers, their loads, states and the
active accounts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel

from hub.bus.contracts import WorkerState, WorkerStatus
from hub.config import Site, Worker
from hub.dispatch.models import Case
from hub.geo.distance import haversine_m

RANK_REASON = {
    0: "本网格网格员 the grid's own worker",
    1: "同社区网格员 a worker of the same community",
    2: "同街道网格员 a worker of the same street",
    3: "其他网格员 another worker",
}


class Recommendation(BaseModel):
    username: str
    name: str
    rank: int
    """0 the grid's own, 1 same community, 2 same street, 3 elsewhere."""
    reasons: list[str]
    running_cases: int
    state: WorkerState | None = None
    distance_m: float | None = None


def on_call(state: WorkerState | None) -> bool:
    """On duty and heard from (or not tracked at all: no field app state to go by)."""
    return state in (None, "available", "busy")


STATE_ORDER: dict[str, int] = {"available": 0, "busy": 1, "offline": 2, "off_duty": 3}
STATE_REASON = {
    "available": "空闲 available",
    "busy": "忙碌 busy",
    "offline": "离线 offline",
    "off_duty": "未在岗 off duty",
}


def _rank(site: Site, worker: Worker, case: Case) -> int:
    if case.grid_id is not None and case.grid_id in worker.grids:
        return 0
    paths = [site.grid_path[g] for g in worker.grids if g in site.grid_path]
    if case.community_id is not None and any(c.id == case.community_id for _, c, _ in paths):
        return 1
    if case.street_id is not None and any(s.id == case.street_id for s, _, _ in paths):
        return 2
    return 3


def recommend(
    site: Site,
    case: Case,
    *,
    active: set[str],
    load: Mapping[str, int],
    workers: Sequence[Worker] | None = None,
    statuses: Mapping[str, WorkerStatus] | None = None,
    skills: Sequence[str] = (),
    limit: int = 10,
) -> list[Recommendation]:
    out: list[tuple[tuple[int, int, int, int, float, int, str], Recommendation]] = []
    for w in site.workers if workers is None else workers:
        if w.username not in active:
            continue
        rank = _rank(site, w, case)
        reasons = [RANK_REASON[rank]]
        same_dept = case.department is not None and w.department == case.department
        if same_dept:
            reasons.append("本部门 the case's department")
        matched = sorted(set(w.skills) & set(skills))
        if matched:
            reasons.append(f"技能 skills: {', '.join(matched)}")
        n = load.get(w.username, 0)
        reasons.append(f"在办 {n} 件 running cases")
        status = (statuses or {}).get(w.username)
        state = status.state if status is not None else None
        if state is not None:
            reasons.append(STATE_REASON[state])
        distance = float("inf")
        if status is not None and status.position is not None and case.position is not None:
            distance = haversine_m(status.position, case.position)
            reasons.append(f"距离 {distance:.0f} m away")
        rec = Recommendation(
            username=w.username,
            name=w.name,
            rank=rank,
            reasons=reasons,
            running_cases=n,
            state=state,
            distance_m=None if distance == float("inf") else round(distance, 1),
        )
        free = 1 if state is None else STATE_ORDER[state]
        # Workers off duty or offline come after everyone on call, whatever their grid.
        order = rank if on_call(state) else len(RANK_REASON) + rank
        key = (order, free, 0 if same_dept else 1, 0 if matched else 1, distance, n, w.username)
        out.append((key, rec))
    out.sort(key=lambda item: item[0])
    return [rec for _, rec in out[:limit]]
