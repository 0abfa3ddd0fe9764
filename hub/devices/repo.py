"""Device tables: provisioned devices, presence state, dead letters, and the ingest's batch write.

Telemetry rows, dead letters and state changes of one ingest batch go in one transaction, so an
MQTT message is acknowledged only when everything it caused is durable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.config import Device
from hub.store.models import DeadLetterRow, DeviceRow, DeviceStateRow, TelemetryRow

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

    def row(self) -> dict[str, Any]:
        return {
            "device_id": self.device_id,
            "state": self.state,
            "reason": self.reason,
            "session": self.session,
            "session_ts": self.session_ts,
            "changed_at": self.changed_at,
            "last_seen": self.last_seen,
            "last_values": self.last_values,
        }


TelemetryTuple = tuple[str, str, float, int | None, float | None, str | None]
"""(device_id, key, ts, seq, value, text): one row of the telemetry table."""
_TELEMETRY_COLS = ("device_id", "key", "ts", "seq", "value", "text")


def _telemetry_insert(paramstyle: str) -> str:
    n = len(_TELEMETRY_COLS)
    if paramstyle == "qmark":
        marks = ["?"] * n
    elif paramstyle == "numeric_dollar":
        marks = [f"${i}" for i in range(1, n + 1)]
    elif paramstyle == "numeric":
        marks = [f":{i}" for i in range(1, n + 1)]
    elif paramstyle in ("format", "pyformat"):
        marks = ["%s"] * n
    else:
        raise ValueError(f"unsupported DB-API paramstyle {paramstyle!r}")
    cols = ", ".join(f'"{c}"' for c in _TELEMETRY_COLS)
    return f'INSERT INTO "{TelemetryRow.__tablename__}" ({cols}) VALUES ({", ".join(marks)})'


def _storable(dead_letter: dict[str, Any]) -> dict[str, Any]:
    """A dead letter quotes what a device sent, which may hold NUL characters (binary payloads):
    PostgreSQL text rejects them, failing the whole batch on every retry, so they become U+FFFD
    as undecodable bytes already do."""
    return {
        k: v.replace("\x00", "\ufffd") if isinstance(v, str) else v for k, v in dead_letter.items()
    }


def _upsert_states(conn: AsyncConnection, rows: list[dict[str, Any]]) -> Any:
    stmt: Any = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(
        DeviceStateRow
    )
    cols = {c: stmt.excluded[c] for c in rows[0] if c != "device_id"}
    return conn.execute(stmt.on_conflict_do_update(index_elements=["device_id"], set_=cols), rows)


class DeviceRepo:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

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
        async with self.engine.begin() as conn:
            if telemetry:
                # Plain tuples through the driver's executemany: no per-row parameter dicts.
                await conn.exec_driver_sql(_telemetry_insert(conn.dialect.paramstyle), telemetry)
            if dead_letters:
                await conn.execute(insert(DeadLetterRow), [_storable(d) for d in dead_letters])
            if states:
                await _upsert_states(conn, [s.row() for s in states])

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
