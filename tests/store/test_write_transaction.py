"""write_transaction: read-then-write transactions (case steps) that do not fail under
concurrency, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from hub.errors import DatabaseBusyError
from hub.store.db import create_engine, write_transaction


async def _counter(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS wt_counter"))
            await conn.execute(text("CREATE TABLE wt_counter (id INTEGER PRIMARY KEY, n INTEGER)"))
            await conn.execute(text("INSERT INTO wt_counter VALUES (1, 0)"))
    finally:
        await engine.dispose()


async def test_concurrent_read_then_write_transactions_all_land(db_url: str) -> None:
    """Forty steps at once, each reading the row, yielding to the loop (as a step awaits its
    checks), then writing what it read plus one. A deferred SQLite transaction fails at once
    ("database is locked", no busy wait) when another committed after its read; these queue, and
    none is lost."""
    await _counter(db_url)
    engine = create_engine(db_url)
    try:
        # PostgreSQL's READ COMMITTED lets two steps read the same n by design (the case repo
        # guards its rows with a version in the UPDATE's WHERE); there the row lock serialises.
        lock = " FOR UPDATE" if engine.dialect.name == "postgresql" else ""

        async def step() -> None:
            async with write_transaction(engine) as conn:
                q = f"SELECT n FROM wt_counter WHERE id = 1{lock}"
                n = (await conn.execute(text(q))).scalar_one()
                await asyncio.sleep(0.002)
                await conn.execute(text("UPDATE wt_counter SET n = :n WHERE id = 1"), {"n": n + 1})

        await asyncio.gather(*(step() for _ in range(40)))
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT n FROM wt_counter"))).scalar_one() == 40
    finally:
        await engine.dispose()


async def test_sqlite_write_transaction_holds_the_write_lock_from_its_start(
    tmp_path: Path,
) -> None:
    db = tmp_path / "hub.db"
    url = f"sqlite+aiosqlite:///{db}"
    await _counter(url)
    engine = create_engine(url)
    try:
        async with write_transaction(engine) as conn:
            await conn.execute(text("SELECT n FROM wt_counter"))  # a read only, so far
            other = sqlite3.connect(db, timeout=0)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            other.close()
        # A rolled-back transaction releases both locks.
        with pytest.raises(RuntimeError):
            async with write_transaction(engine) as conn:
                await conn.execute(text("UPDATE wt_counter SET n = 99"))
                raise RuntimeError("step failed")
        async with write_transaction(engine) as conn:
            assert (await conn.execute(text("SELECT n FROM wt_counter"))).scalar_one() == 0
    finally:
        await engine.dispose()


async def test_sqlite_writer_held_elsewhere_ends_as_503(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holding the write lock past the busy timeout: 503 (DatabaseBusyError),
    not an internal error, and the hub's next write goes through once it is released."""
    import hub.store.db as db_module

    db = tmp_path / "hub.db"
    url = f"sqlite+aiosqlite:///{db}"
    await _counter(url)
    monkeypatch.setattr(db_module, "SQLITE_BUSY_MS", 200)
    engine = db_module.create_engine(url)
    other = sqlite3.connect(db, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(DatabaseBusyError):
            async with write_transaction(engine) as conn:
                await conn.execute(text("UPDATE wt_counter SET n = 1"))
        other.execute("COMMIT")
        async with write_transaction(engine) as conn:
            await conn.execute(text("UPDATE wt_counter SET n = 2"))
    finally:
        other.close()
        await engine.dispose()
