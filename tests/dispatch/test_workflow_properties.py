"""Property-based tests of the case loop: whatever sequence of steps any role tries, through the
service on a real store, a case only ever moves as the transition table says, every accepted
step is on the timeline exactly once, and a refused step changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from case_helpers import Rig, case_rig
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.dispatch.models import CaseAction, NewCase
from hub.dispatch.workflow import ACTIONS, CASE_STATES, TRANSITIONS, Refused, plan
from hub.errors import HubError

ACTORS = [
    ("op", "operator"),
    ("boss", "supervisor"),
    ("admin", "admin"),
    ("wang", "worker"),
    ("li", "worker"),
]


def _likely(state: str, assignee: str | None) -> st.SearchStrategy[tuple[str, tuple[str, str]]]:
    """Steps the table allows now, by someone allowed to take them: random steps alone
    rarely get a case past its first stages."""
    by_action = {}
    for action, rule in TRANSITIONS.items():
        if state not in rule.sources or action == "void":  # void ends it: only by chance
            continue
        who = [
            (actor, role)
            for actor, role in ACTORS
            if role in rule.roles and (role != "worker" or actor == assignee)
        ]
        if who:
            by_action[action] = st.sampled_from(who)
    if not by_action:
        return st.nothing()
    return st.sampled_from(sorted(by_action)).flatmap(
        lambda a: by_action[a].map(lambda who: (a, who))
    )


def _step(state: str, assignee: str | None) -> st.SearchStrategy[tuple[str, tuple[str, str]]]:
    anything = st.tuples(st.sampled_from(ACTIONS), st.sampled_from(ACTORS))
    likely = _likely(state, assignee)
    return st.one_of(likely, likely, likely, anything)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with case_rig("sqlite", tmp_path) as r:
        yield r


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data(), n=st.integers(min_value=1, max_value=30))
async def test_no_sequence_of_steps_breaks_a_case(rig: Rig, data: st.DataObject, n: int) -> None:
    case = await rig.svc.report(
        NewCase(category="02.01", title="t", grid_id="g1"),
        source="operator",
        actor="op",
        role="operator",
    )
    for _ in range(n):
        before = await rig.svc.get(case.id, viewer="op", role="operator")
        action, (actor, role) = data.draw(_step(before.state, before.assignee))
        assignee = data.draw(st.sampled_from(["wang", "li", "op", None]))
        stale = data.draw(st.integers(0, 9)) == 0  # sometimes on an old version
        # What the table says should happen, as the service sees it.
        try:
            expected = plan(
                action,  # type: ignore[arg-type]
                before.state,  # type: ignore[arg-type]
                role=role,  # type: ignore[arg-type]
                actor=actor,
                assignee=before.assignee,
                pending=before.pending,
            )
        except Refused:
            expected = None
        visible = role != "worker" or before.assignee == actor
        needs_worker = action in ("dispatch",) and (assignee or before.assignee) not in (
            "wang",
            "li",
        )
        needs_rating = action == "evaluate"
        body = CaseAction.model_validate(
            {
                "action": action,
                "version": before.version - 1 if stale and before.version > 1 else before.version,
                "assignee": assignee,
                "rating": 3 if needs_rating else None,
            }
        )
        try:
            after = await rig.svc.act(case.id, body, actor=actor, role=role)  # type: ignore[arg-type]
        except HubError:
            after = None
        now = await rig.svc.get(case.id, viewer="op", role="operator")
        should_pass = (
            expected is not None
            and visible
            and body.version == before.version
            and not (needs_worker or (action == "check_fail" and assignee == "op"))
        )
        if after is None:
            assert not should_pass, (action, actor, before.state)
            assert now.version == before.version and now.timeline == before.timeline
            continue
        assert should_pass and expected is not None, (action, actor, before.state)
        assert now.state == expected.target == after.state
        assert now.pending == expected.pending
        assert now.version == before.version + 1
        assert now.timeline[:-1] == before.timeline
        assert now.timeline[-1].action == action and now.timeline[-1].actor == actor
    final = await rig.svc.get(case.id, viewer="op", role="operator")
    assert final.state in CASE_STATES
    assert [t.version for t in final.timeline] == list(range(1, final.version + 1))
    assert final.timeline[-1].to_state == final.state
    for prev, nxt in zip(final.timeline, final.timeline[1:], strict=False):
        assert nxt.from_state == prev.to_state
