from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from pg_cluster import private_postgres

from hub.store import passwords
from hub.store.db import Store, open_store


@pytest.fixture(autouse=True)
def fast_hasher() -> Iterator[None]:
    passwords.set_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    yield
    passwords.set_hasher(PasswordHasher())


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"


@contextlib.asynccontextmanager
async def open_test_store(kind: str, tmp_path: Path) -> AsyncIterator[Store]:
    """A migrated store on SQLite in ``tmp_path`` or on a private PostgreSQL database."""
    if kind == "sqlite":
        url_cm: contextlib.AbstractAsyncContextManager[str] = contextlib.nullcontext(
            f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
        )
    else:
        url_cm = private_postgres()
    async with url_cm as url:
        store = await open_store(url)
        try:
            yield store
        finally:
            await store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Store tests run on SQLite and on a real PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
        return
    async with private_postgres() as url:
        yield url


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    """An open store on each backend of ``db_url``."""
    s = await open_store(db_url)
    yield s
    await s.close()
