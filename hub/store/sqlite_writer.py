"""One SQLite connection on its own thread for a hot write path: a whole transaction per call.

Through the async engine (aiosqlite) every statement, BEGIN and COMMIT is a round trip between
its thread and the event loop; while the loop runs a long synchronous stretch (validating or
evaluating a batch of 2,000 messages) each of those waits for it, and the ingest's writes fell
behind its validation. Here a batch is one hand-off: the transaction runs on the writer thread,
which releases the GIL inside SQLite. Other connections (the engine's pool) stay usable; SQLite
serialises writers and the busy timeout rides out the waits.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from hub.store.db import SQLITE_BUSY_MS

T = TypeVar("T")

CACHE_KIB = 64 * 1024


class SqliteWriter:
    def __init__(self, path: str, name: str = "sqlite-writer") -> None:
        self.path = path
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            c = sqlite3.connect(self.path, timeout=SQLITE_BUSY_MS / 1000, isolation_level=None)
            for pragma in (
                "journal_mode=WAL",
                "foreign_keys=ON",
                f"busy_timeout={SQLITE_BUSY_MS}",
                "synchronous=NORMAL",
                # The telemetry indexes' insert points (one per device and key) must stay in
                # cache: SQLite's default 2 MB holds those of a few hundred devices at most.
                f"cache_size=-{CACHE_KIB}",
            ):
                c.execute(f"PRAGMA {pragma}")
            self._conn = c
        return self._conn

    def _transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            out = work(conn)
            conn.execute("COMMIT")
        except BaseException:
            # A failed COMMIT too: a transaction left open would keep the write lock forever.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return out

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work(connection)`` in one transaction on the writer thread."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._transaction, work)

    async def close(self) -> None:
        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(self._pool, _close)
        self._pool.shutdown(wait=True)
