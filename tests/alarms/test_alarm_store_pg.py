"""The alarm SQL (hub/alarms/repo.py) on SQLite and on the real local PostgreSQL: an alarm's
lifecycle and timeline survive a restart of the service, listing filters and pages. Each
PostgreSQL run gets a private database on the test session's private cluster
(tests/pg_cluster.py); nothing skips."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alarm_service_helpers import CAMERAS, T0, alarm_rig, trigger
from store.conftest import open_test_store

from hub.alarms.models import SeverityChanged
from hub.store.db import Store


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with open_test_store(request.param, tmp_path) as s:
        yield s


async def test_alarm_lifecycle_persists_across_services(store: Store, tmp_path: Path) -> None:
    async with alarm_rig(tmp_path, store=store) as r:
        s = r.service
        a1 = (await s.trigger(trigger("warning", 6.0))).id
        await s.trigger(trigger("critical", 9.5, ts=T0 + 1))  # refresh: severity
        a2 = (await s.trigger(trigger("warning", 5.0, device_id="dev-2", ts=T0 + 1))).id
        await s.ack(a1, "op")
        await s.assign(a1, "worker", "op")

    async with alarm_rig(tmp_path, store=store) as r:
        s = r.service
        assert s.open_id("dev-1", "level-high") == a1
        assert s.open_id("dev-2", "level-high") == a2
        doc = await s.detail(a1)
        assert (doc.state, doc.severity) == ("acknowledged", "critical")
        assert (doc.count, doc.value) == (2, 9.5)
        assert doc.assignee == "worker" and doc.acknowledged_at is not None
        assert doc.position == (120.05, 31.05) and doc.cameras == CAMERAS
        assert doc.created_at.tzinfo is not None and doc.created_at <= doc.updated_at
        assert doc.model_dump(mode="json")["created_at"].endswith("Z")
        assert [(c.action, c.actor) for c in doc.timeline] == [
            ("created", "system"),
            ("severity", "system"),
            ("acked", "op"),
            ("assigned", "op"),
        ]
        up = doc.timeline[1]
        assert isinstance(up, SeverityChanged) and (up.from_, up.to) == ("warning", "critical")

        # The reloaded service refreshes the open alarm, clears it, and a new trigger is a new
        # alarm.
        await s.trigger(trigger("critical", 9.0, ts=T0 + 2))
        await s.condition_cleared("dev-1", "level-high")
        assert [(d.id, d.state, d.count) for d in r.drain()] == [
            (a1, "acknowledged", 3),
            (a1, "cleared", 3),
        ]
        assert await s.condition_cleared("dev-1", "level-high") is None
        new = await s.trigger(trigger("warning", 5.0, ts=T0 + 4))
        assert new.id not in (a1, a2) and new.state == "active"

        async def ids(**q: object) -> list[int]:
            return [x.id for x in (await s.page(**q)).items]

        assert set(await ids(state="open")) == {a2, new.id}
        assert await ids(severity="critical") == [a1]
        assert await ids(device_id="dev-2") == [a2]
        assert await ids(before_id=new.id, limit=1) == [a2]
        assert await ids(state="acknowledged") == []
