"""Alembic migrations on SQLite and real PostgreSQL: they build exactly the mapped schema."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pg_cluster import private_postgres
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from hub.store import migrate
from hub.store.db import create_engine, open_store
from hub.store.models import Base


def _diff(conn: Connection) -> list[Any]:
    ctx = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(ctx, Base.metadata))


def _indexes(conn: Connection) -> dict[str, list[str | None]]:
    return {
        ix["name"]: list(ix["column_names"])
        for ix in inspect(conn).get_indexes("detection_events")
        if ix["name"]
    }


async def test_upgrade_builds_the_mapped_schema(db_url: str) -> None:
    store = await open_store(db_url)
    try:
        assert await migrate.current_revision(store.engine) == migrate.head_revision()
        async with store.engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
            ix = await conn.run_sync(_indexes)
        assert ix["ix_detection_events_camera_start"] == ["camera_id", "start"]
        assert ix["ix_detection_events_type_start"] == ["type", "start"]
    finally:
        await store.close()


async def test_upgrade_is_idempotent_and_reversible(db_url: str) -> None:
    store = await open_store(db_url)
    await store.users.create("keep", "operator", "password-1")
    await store.close()
    store = await open_store(db_url)  # second startup: nothing to do, data intact
    assert await store.users.get("keep") is not None
    await migrate.downgrade(store.engine, "base")
    assert await migrate.current_revision(store.engine) is None
    async with store.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
    assert "users" not in tables and "detection_events" not in tables
    await migrate.upgrade(store.engine)
    assert await migrate.current_revision(store.engine) == migrate.head_revision()
    await store.close()


async def test_sqlite_pragmas(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'sub' / 'hub.db'}")
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
            assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 5000
    finally:
        await engine.dispose()
    assert (tmp_path / "sub" / "hub.db").exists()  # the data directory is created


async def test_processes_starting_together_migrate_once() -> None:
    """Several cluster processes open one fresh PostgreSQL database at once: one migrates under
    the advisory lock, the others wait for it and find the schema at head."""
    async with private_postgres() as url, asyncio.timeout(60):
        # Without the lock, the concurrent DDL deadlocks or fails on duplicate tables.
        await _migrate_together(url)


async def _migrate_together(url: str) -> None:
    stores = await asyncio.gather(*(open_store(url) for _ in range(4)))
    try:
        for store in stores:
            assert await migrate.current_revision(store.engine) == migrate.head_revision()
        async with stores[0].engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        for store in stores:
            await store.close()
