"""Device tables: provisioned devices, presence state, dead letters, and the ingest's batch write.

Telemetry rows, dead letters and state changes of one ingest batch go in one transaction, so an
MQTT message is acknowledged only when everything it caused is durable.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.config import Device
from hub.errors import ConflictError
from hub.store.bulk import insert_rows, sqlite_statements
from hub.store.models import DeadLetterRow, DeviceRow, DeviceStateRow, TelemetryRow
from hub.store.sqlite_writer import SqliteWriter

MAX_DEAD_LETTER_PAGE = 500


@dataclass(slots=True)
class DeviceState:
    device_id: str
    state: str
    reason: str
    session: str | None
    session_ts: float | None
    changed_at: float
    last_seen: float | None
    last_values: dict[str, Any]


TelemetryTuple = tuple[str, str, float, int | None, float | None, str | None]
"""(device_id, key, ts, seq, value, text): one row of the telemetry table."""
_TELEMETRY_COLS = ("device_id", "key", "ts", "seq", "value", "text")


def _storable(dead_letter: dict[str, Any]) -> dict[str, Any]:
    """A dead letter quotes what a device sent, which may hold NUL characters (binary payloads):
    PostgreSQL text rejects them, failing the whole batch on every retry, so they become U+FFFD
    as undecodable bytes already do."""
    return {
        k: v.replace("\x00", "\ufffd") if isinstance(v, str) else v for k, v in dead_letter.items()
    }


_STATE_COLS = (
    "device_id", "state", "reason", "session", "session_ts", "changed_at", "last_seen",
    "last_values",
)  # fmt: skip
_STATE_UPDATE = ", ".join(f'"{c}" = excluded."{c}"' for c in _STATE_COLS[1:])


_DEAD_COLS = ("ts", "reason", "device_id", "topic", "detail", "payload")


def _write_sqlite(
    conn: sqlite3.Connection,
    telemetry: list[TelemetryTuple],
    dead: list[tuple[Any, ...]],
    states: list[tuple[Any, ...]],
) -> None:
    parts = (
        (TelemetryRow.__tablename__, _TELEMETRY_COLS, telemetry, (), ""),
        (DeadLetterRow.__tablename__, _DEAD_COLS, dead, (), ""),
        (DeviceStateRow.__tablename__, _STATE_COLS, states, ("device_id",), _STATE_UPDATE),
    )
    for table, cols, rows, conflict, update in parts:
        for sql, params in sqlite_statements(table, cols, rows, conflict=conflict, update=update):
            conn.execute(sql, params)


def _state_tuple(s: DeviceState) -> tuple[Any, ...]:
    return (
        s.device_id, s.state, s.reason, s.session, s.session_ts, s.changed_at, s.last_seen,
        orjson.dumps(s.last_values).decode(),
    )  # fmt: skip


class DeviceRepo:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        url = engine.url
        self._writer: SqliteWriter | None = None
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            self._writer = SqliteWriter(str(url.database), "ingest-writer")

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer.close()
            self._writer = None

    # -- provisioned devices ---------------------------------------------------------------

    async def list_devices(self) -> list[Device]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(DeviceRow).order_by(DeviceRow.id))).all()
        return [
            Device(
                id=r.id,
                name=r.name,
                profile=r.profile,
                grid=r.grid,
                position=[r.lon, r.lat],
                enabled=r.enabled,
            )
            for r in rows
        ]

    async def add_device(self, device: Device) -> None:
        """Store a new device; ConflictError if its id is stored already (e.g. by a concurrent
        provisioning that passed the same check)."""
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    insert(DeviceRow).values(
                        id=device.id,
                        name=device.name,
                        profile=device.profile,
                        grid=device.grid,
                        lon=device.position[0],
                        lat=device.position[1],
                        enabled=device.enabled,
                    )
                )
        except IntegrityError:
            # Only a taken id is the caller's conflict; another constraint failing is a bug.
            if not await self._device_stored(device.id):
                raise
            raise ConflictError(f"device {device.id!r} exists") from None

    async def _device_stored(self, device_id: str) -> bool:
        async with self.engine.connect() as conn:
            q = select(DeviceRow.id).where(DeviceRow.id == device_id)
            return (await conn.execute(q)).first() is not None

    async def delete_device(self, device_id: str) -> bool:
        async with self.engine.begin() as conn:
            res = await conn.execute(delete(DeviceRow).where(DeviceRow.id == device_id))
            await conn.execute(delete(DeviceStateRow).where(DeviceStateRow.device_id == device_id))
        return bool(res.rowcount)

    # -- presence ----------------------------------------------------------------------------

    async def load_states(self) -> list[DeviceState]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(DeviceStateRow))).all()
        return [
            DeviceState(
                r.device_id,
                r.state,
                r.reason,
                r.session,
                r.session_ts,
                r.changed_at,
                r.last_seen,
                dict(r.last_values or {}),
            )
            for r in rows
        ]

    # -- the ingest's batch ------------------------------------------------------------------

    async def write_batch(
        self,
        telemetry: list[TelemetryTuple],
        dead_letters: Sequence[dict[str, Any]],
        states: Sequence[DeviceState],
    ) -> None:
        states_rows = [_state_tuple(s) for s in states]
        if self._writer is not None:
            # SQLite: the whole transaction in one hand-off to the writer thread.
            dead = [tuple(_storable(d).get(c) for c in _DEAD_COLS) for d in dead_letters]
            await self._writer.run(lambda c: _write_sqlite(c, telemetry, dead, states_rows))
            return
        async with self.engine.begin() as conn:
            if telemetry and conn.dialect.driver == "asyncpg":
                # Binary COPY: several times faster than executemany, which PostgreSQL runs
                # as one INSERT per row. A statement first, so the COPY joins the transaction.
                await conn.execute(select(1))
                raw = await conn.get_raw_connection()
                await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
                    TelemetryRow.__tablename__, records=telemetry, columns=_TELEMETRY_COLS
                )
            else:
                await insert_rows(conn, TelemetryRow.__tablename__, _TELEMETRY_COLS, telemetry)
            if dead_letters:
                await conn.execute(insert(DeadLetterRow), [_storable(d) for d in dead_letters])
            await insert_rows(
                conn,
                DeviceStateRow.__tablename__,
                _STATE_COLS,
                states_rows,
                conflict=["device_id"],
                update=_STATE_UPDATE,
            )

    # -- dead letters ------------------------------------------------------------------------

    async def dead_letters(
        self,
        *,
        reason: str | None = None,
        device_id: str | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        q = select(DeadLetterRow).order_by(DeadLetterRow.id.desc()).limit(limit)
        if reason is not None:
            q = q.where(DeadLetterRow.reason == reason)
        if device_id is not None:
            q = q.where(DeadLetterRow.device_id == device_id)
        if before_id is not None:
            q = q.where(DeadLetterRow.id < before_id)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).mappings().all()
        return [dict(r) for r in rows]

    async def prune_dead_letters(self, older_than: float) -> int:
        async with self.engine.begin() as conn:
            res = await conn.execute(delete(DeadLetterRow).where(DeadLetterRow.ts < older_than))
        return int(res.rowcount)

    async def count_telemetry(self) -> int:
        async with self.engine.connect() as conn:
            return int(
                (await conn.execute(select(func.count()).select_from(TelemetryRow))).scalar_one()
            )
