"""The only place with the wall's SQL (tables ``wall_layouts`` and ``wall_tours``).

Both tables hold a unique name and the validated body as JSON; the typed records of
:mod:`hub.wall.models` go in and come out. A name taken by another row is a 409.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.errors import ConflictError, NotFoundError
from hub.store.db import busy_as_503, write_transaction
from hub.store.models import WallLayoutRow, WallTourRow
from hub.wall.models import MAX_SAVED, Layout, LayoutIn, Tour, TourIn

In = TypeVar("In", LayoutIn, TourIn)
Rec = TypeVar("Rec", Layout, Tour)


class _Repo(Generic[In, Rec]):
    row: Any
    record: type[BaseModel]
    kind: str

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    def _rec(self, r: Any) -> Rec:
        rec: Rec = self.record.model_validate(  # type: ignore[assignment]
            {**r.body, "id": r.id, "name": r.name, "updated_by": r.updated_by,
             "updated_at": r.updated_at}
        )  # fmt: skip
        return rec

    async def list(self) -> list[Rec]:
        with busy_as_503():
            async with self.engine.connect() as conn:
                rows = (await conn.execute(select(self.row).order_by(self.row.name))).all()
        return [self._rec(r) for r in rows]

    async def get(self, item_id: int) -> Rec:
        with busy_as_503():
            async with self.engine.connect() as conn:
                r = (await conn.execute(select(self.row).where(self.row.id == item_id))).first()
        if r is None:
            raise NotFoundError(f"no {self.kind} {item_id}")
        return self._rec(r)

    async def create(self, body: In, actor: str) -> Rec:
        values = self._values(body, actor)
        try:
            async with write_transaction(self.engine) as conn:
                count = (await conn.execute(select(func.count()).select_from(self.row))).scalar()
                if (count or 0) >= MAX_SAVED:
                    raise ConflictError(f"at most {MAX_SAVED} saved {self.kind}s; delete some")
                new_id = (
                    await conn.execute(insert(self.row).values(**values).returning(self.row.id))
                ).scalar_one()
        except IntegrityError as exc:
            raise ConflictError(f"a {self.kind} named {body.name!r} exists already") from exc
        return await self.get(int(new_id))

    async def replace(self, item_id: int, body: In, actor: str) -> Rec:
        try:
            async with write_transaction(self.engine) as conn:
                done = await conn.execute(
                    update(self.row)
                    .where(self.row.id == item_id)
                    .values(**self._values(body, actor))
                )
        except IntegrityError as exc:
            raise ConflictError(f"a {self.kind} named {body.name!r} exists already") from exc
        if not done.rowcount:
            raise NotFoundError(f"no {self.kind} {item_id}")
        return await self.get(item_id)

    async def delete(self, item_id: int) -> None:
        async with write_transaction(self.engine) as conn:
            done = await conn.execute(delete(self.row).where(self.row.id == item_id))
        if not done.rowcount:
            raise NotFoundError(f"no {self.kind} {item_id}")

    @staticmethod
    def _values(body: In, actor: str) -> dict[str, Any]:
        return {
            "name": body.name,
            "body": body.model_dump(mode="json", exclude={"name"}),
            "updated_by": actor,
            "updated_at": datetime.now(UTC),
        }


class LayoutRepo(_Repo[LayoutIn, Layout]):
    row = WallLayoutRow
    record = Layout
    kind = "layout"


class TourRepo(_Repo[TourIn, Tour]):
    row = WallTourRow
    record = Tour
    kind = "tour"
