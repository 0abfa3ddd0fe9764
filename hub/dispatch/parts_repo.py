"""The only place with the SQL of co-dispatched parts (table case_parts).

Writes happen inside the transaction the caller opened on the case (``CaseRepo.begin``), so a
part's change, the case's version and its timeline entry commit together.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.dispatch.parts import OPEN_PART_STATES, CasePart
from hub.store.models import CasePartRow


def _part(row: Any) -> CasePart:
    return CasePart.model_validate(row, from_attributes=True)


class PartRepo:
    async def insert(self, conn: AsyncConnection, values: dict[str, Any]) -> int:
        res = await conn.execute(insert(CasePartRow).values(**values).returning(CasePartRow.id))
        return int(res.scalar_one())

    async def update(
        self, conn: AsyncConnection, part_id: int, state: str, values: dict[str, Any]
    ) -> bool:
        """Apply ``values`` if the part is still in ``state`` (the case's version guards it
        already; this keeps a part from ever moving from a state it has left)."""
        res = await conn.execute(
            update(CasePartRow)
            .where(CasePartRow.id == part_id, CasePartRow.state == state)
            .values(**values)
        )
        return bool(res.rowcount == 1)

    async def get(self, conn: AsyncConnection, case_id: int, part_id: int) -> CasePart | None:
        row = (
            await conn.execute(
                select(CasePartRow).where(CasePartRow.id == part_id, CasePartRow.case_id == case_id)
            )
        ).first()
        return None if row is None else _part(row)

    async def of_case(self, conn: AsyncConnection, case_id: int) -> list[CasePart]:
        rows = await conn.execute(
            select(CasePartRow).where(CasePartRow.case_id == case_id).order_by(CasePartRow.id)
        )
        return [_part(r) for r in rows]

    async def open_of_case(self, conn: AsyncConnection, case_id: int) -> list[CasePart]:
        rows = await conn.execute(
            select(CasePartRow)
            .where(
                CasePartRow.case_id == case_id,
                CasePartRow.state.in_(sorted(OPEN_PART_STATES)),
            )
            .order_by(CasePartRow.id)
        )
        return [_part(r) for r in rows]

    async def has_part_for(self, conn: AsyncConnection, case_id: int, username: str) -> bool:
        """Whether ``username`` is the assignee of a part of the case."""
        row = (
            await conn.execute(
                select(CasePartRow.id)
                .where(CasePartRow.case_id == case_id, CasePartRow.assignee == username)
                .limit(1)
            )
        ).first()
        return row is not None
