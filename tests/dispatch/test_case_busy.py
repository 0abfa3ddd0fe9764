"""A locked SQLite database (another writer holding its lock past the busy timeout) ends a case
step as 503 with Retry-After, nothing half-written, never as an internal error."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from case_helpers import case_rig

from hub.dispatch.models import NewCase
from hub.dispatch.repo import CaseFilter
from hub.errors import BusyError, DatabaseBusyError
from hub.store import db


async def test_locked_database_is_503_with_retry_after_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "SQLITE_BUSY_MS", 100)
    async with case_rig("sqlite", tmp_path) as rig:
        new = NewCase(category="02.01", title="道路破损", position=(120.0, 31.8))
        case = await rig.svc.report(new, source="operator", actor="op", role="operator")
        other = sqlite3.connect(tmp_path / "hub.db", isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
            with pytest.raises(DatabaseBusyError) as caught:
                await rig.step(case, "accept")
            assert isinstance(caught.value, BusyError)
            assert caught.value.status == 503
            assert caught.value.headers == {"Retry-After": "1"}
            with pytest.raises(DatabaseBusyError):
                await rig.svc.report(new, source="operator", actor="op", role="operator")
        finally:
            other.execute("ROLLBACK")
            other.close()
        # Nothing of the refused step was stored: the same step at the same version goes through.
        detail = await rig.svc.get(case.id, viewer="op", role="operator")
        assert (detail.state, detail.version) == ("reported", 1)
        assert [t.action for t in detail.timeline] == ["created"]
        after = await rig.step(case, "accept")
        assert (after.state, after.version) == ("accepted", 2)
        page = await rig.svc.page(
            CaseFilter(),
            viewer="op",
            role="operator",
            limit=10,
            before_id=None,
        )
        assert page.total == 1
