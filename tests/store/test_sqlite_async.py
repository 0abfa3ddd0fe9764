"""The hub's SQLite engine: one hand-off to aiosqlite's thread per statement, with SQLAlchemy
seeing the same results and errors as through its stock adapter."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError

from hub.store.db import create_engine, is_locked
from hub.store.sqlite_async import OneHopDBAPI

meta = MetaData()
items = Table(
    "items",
    meta,
    Column("id", Integer, primary_key=True),
    Column("name", String(20), unique=True, nullable=False),
    Column("n", Integer, nullable=False),
)


async def test_results_and_errors_are_those_of_sqlalchemy(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    assert isinstance(engine.dialect.dbapi, OneHopDBAPI)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(meta.create_all)
            res = await conn.execute(insert(items).values(name="a", n=1))
            assert res.inserted_primary_key == (1,)
            many = await conn.execute(insert(items), [{"name": f"m{i}", "n": i} for i in range(5)])
            assert many.rowcount == 5
            back = await conn.execute(
                insert(items).values(name="r", n=7).returning(items.c.id, items.c.name)
            )
            assert back.one() == (7, "r")
            up = await conn.execute(update(items).where(items.c.n < 3).values(n=items.c.n + 10))
            assert up.rowcount == 4  # a (1), m0, m1, m2
            rows = (await conn.execute(select(items.c.name).order_by(items.c.id))).scalars()
            assert list(rows) == ["a", "m0", "m1", "m2", "m3", "m4", "r"]
            assert (await conn.execute(text("SELECT 1 WHERE 0"))).first() is None
            # Rows read in parts, as a streamed result would.
            part = await conn.execute(select(items.c.id).order_by(items.c.id))
            assert part.fetchmany(2) == [(1,), (2,)] and len(part.fetchall()) == 5

        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(insert(items).values(name="a", n=2))
        async with engine.connect() as conn:  # rolled back, the connection still usable
            assert (await conn.execute(select(items.c.n).where(items.c.name == "a"))).scalar() == 11
    finally:
        await engine.dispose()


async def test_a_statement_is_one_trip_to_the_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    trips: list[Any] = []
    real = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *a: Any, **kw: Any) -> Any:
        trips.append(fn)
        return await real(self, fn, *a, **kw)

    try:
        async with engine.begin() as conn:
            await conn.run_sync(meta.create_all)
        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
        async with engine.connect() as conn:
            trips.clear()
            for i in range(10):
                await conn.execute(insert(items).values(name=f"x{i}", n=i))
            assert len(trips) == 10  # the stock adapter: 40 (cursor, execute, fetch, close)
            await conn.commit()
    finally:
        await engine.dispose()


async def test_database_is_locked_stays_recognisable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another connection holding the write lock: the statement fails as SQLAlchemy's
    OperationalError that :func:`is_locked` knows, after the busy timeout."""
    import hub.store.db as db_module

    monkeypatch.setattr(db_module, "SQLITE_BUSY_MS", 100)
    db = tmp_path / "hub.db"
    engine = db_module.create_engine(f"sqlite+aiosqlite:///{db}")
    other = sqlite3.connect(db, timeout=0, isolation_level=None)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(meta.create_all)
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(OperationalError) as err:
            async with engine.begin() as conn:
                await conn.execute(insert(items).values(name="z", n=0))
        assert is_locked(err.value)
    finally:
        other.close()
        await engine.dispose()
