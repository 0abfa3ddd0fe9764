"""worker_state, worker_positions: grid workers' duty, last place and GPS track

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "worker_state",
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("on_duty", sa.Boolean(), nullable=False),
        sa.Column("last_seen", _TS, nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
    )
    op.create_table(
        "worker_positions",
        sa.Column("id", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("ts", _TS, nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
    )
    op.create_index("ix_worker_positions_user_ts", "worker_positions", ["username", "ts"])


def downgrade() -> None:
    op.drop_index("ix_worker_positions_user_ts", table_name="worker_positions")
    op.drop_table("worker_positions")
    op.drop_table("worker_state")
