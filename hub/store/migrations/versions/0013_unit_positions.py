"""unit positions: the flight tracks of drones and camera vehicles (WHIP units)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "unit_positions",
        sa.Column("id", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("ts", _TS, nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("alt_m", sa.Float(), nullable=True),
        sa.Column("heading", sa.Float(), nullable=True),
        sa.Column("speed_mps", sa.Float(), nullable=True),
        sa.Column("battery_pct", sa.Float(), nullable=True),
    )
    op.create_index("ix_unit_positions_unit_ts", "unit_positions", ["unit_id", "ts"])


def downgrade() -> None:
    op.drop_index("ix_unit_positions_unit_ts", table_name="unit_positions")
    op.drop_table("unit_positions")
