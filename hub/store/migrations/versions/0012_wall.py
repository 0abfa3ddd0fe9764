"""wall: saved layouts (预案) and tours (轮巡) of the video wall

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-10
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    for table in ("wall_layouts", "wall_tours"):
        op.create_table(
            table,
            sa.Column("id", _SEQ, primary_key=True, autoincrement=True),
            sa.Column("name", sa.String(64), nullable=False),
            sa.Column("body", sa.JSON(), nullable=False),
            sa.Column("updated_by", sa.String(64), nullable=False),
            sa.Column("updated_at", _TS, nullable=False),
            sa.UniqueConstraint("name", name=f"uq_{table}_name"),
        )


def downgrade() -> None:
    op.drop_table("wall_tours")
    op.drop_table("wall_layouts")
