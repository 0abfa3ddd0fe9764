"""Alembic, configured from the package: no alembic.ini, migrations run at startup."""

from __future__ import annotations

import logging

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

MIGRATION_LOCK = 0x6875625F6D6967  # "hub_mig": the advisory lock migrations hold on PostgreSQL


def alembic_config(url: str = "") -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "hub.store:migrations")
    if url:
        # ConfigParser treats % as interpolation; URLs may hold percent-escapes.
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database to ``revision`` (idempotent; a no-op when already there)."""

    def run(conn: Connection) -> None:
        before = _current(conn)
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        after = _current(conn)
        if before != after:
            log.info("database migrated", extra={"from_rev": before, "to_rev": after})

    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Several processes of a cluster start together: one migrates, the others wait
            # here, then find the database at head (the lock ends with this transaction; DDL
            # is transactional in PostgreSQL).
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        await conn.run_sync(run)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    def run(conn: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)
