"""The database: one async engine per hub, SQLite by default, PostgreSQL with the same code."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from hub.config import Settings
from hub.datadir import private_sqlite
from hub.errors import DatabaseBusyError
from hub.store import migrate
from hub.store.events import EventRepo
from hub.store.sqlite_async import one_hop_dbapi
from hub.store.users import UserRepo

log = logging.getLogger(__name__)

SQLITE_BUSY_MS = 5000


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets the API read while the recorder writes; the busy timeout rides out short locks.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def is_locked(exc: BaseException) -> bool:
    """SQLite's "database is locked" (or "database table is locked"): a writer waited for the
    lock past the busy timeout."""
    return isinstance(exc, OperationalError) and "is locked" in str(exc.orig)


@contextmanager
def busy_as_503(retry_after: int = 1) -> Iterator[None]:
    """Turn SQLite's "database is locked" inside the block into :class:`DatabaseBusyError` (503
    with Retry-After) instead of an internal error."""
    try:
        yield
    except OperationalError as exc:
        if is_locked(exc):
            log.warning("database is locked; answered 503", extra={"error": str(exc.orig)})
            raise DatabaseBusyError("the database is busy; try again shortly", retry_after) from exc
        raise


_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, asyncio.Lock] = weakref.WeakKeyDictionary()


@asynccontextmanager
async def write_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction that reads and then writes (a case step, a worker's state).

    On SQLite a deferred transaction that read first fails at once, without waiting, when it
    tries to write after another connection committed (its snapshot is stale: the busy timeout
    does not apply); under the city's load that was most of the 503s. So the transaction takes
    the write lock when it starts (BEGIN IMMEDIATE, which waits out other writers), and the
    hub's own writers queue on one asyncio lock instead of spinning in SQLite's busy handler on
    pool threads. PostgreSQL: a plain transaction. "database is locked" ends as 503
    (:class:`DatabaseBusyError`), as does waiting for the lock longer than the busy timeout."""
    with busy_as_503():
        if engine.dialect.name != "sqlite":
            async with engine.begin() as conn:
                yield conn
            return
        lock = _WRITE_LOCKS.setdefault(engine.sync_engine, asyncio.Lock())
        try:
            async with asyncio.timeout(SQLITE_BUSY_MS / 1000):
                await lock.acquire()
        except TimeoutError:
            log.warning("write lock wait timed out; answered 503")
            raise DatabaseBusyError("the database is busy; try again shortly", 1) from None
        try:
            async with engine.begin() as conn:
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
                yield conn
        finally:
            lock.release()


def create_engine(url: str) -> AsyncEngine:
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            db = Path(u.database)
            if not db.parent.exists():
                db.parent.mkdir(parents=True, mode=0o700)
            private_sqlite(db)
        extra: dict[str, Any] = {}
        if u.get_driver_name() == "aiosqlite":
            extra["module"] = one_hop_dbapi()  # one thread hand-off per statement, not four
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_MS / 1000}, **extra)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_pre_ping=True)


class Store:
    """Engine, sessions and the repositories over them."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False, class_=AsyncSession)
        self.users = UserRepo(self.sessions)
        self.events = EventRepo(self.sessions)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def close(self) -> None:
        await self.engine.dispose()


async def open_store(url_or_settings: str | Settings, *, run_migrations: bool = True) -> Store:
    """Connect and (by default) migrate to the newest schema."""
    url = (
        url_or_settings.sqlalchemy_url if isinstance(url_or_settings, Settings) else url_or_settings
    )
    engine = create_engine(url)
    try:
        if run_migrations:
            await migrate.upgrade(engine)
    except BaseException:
        await engine.dispose()
        raise
    log.info("store open", extra={"dialect": engine.dialect.name})
    return Store(engine)
