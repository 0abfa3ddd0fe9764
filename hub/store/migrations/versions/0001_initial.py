"""users and detection events

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.UniqueConstraint("username", name="uq_users_username"),
    )
    op.create_table(
        "detection_events",
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("grid_id", sa.String(64), nullable=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("zone_id", sa.String(64), nullable=True),
        sa.Column("line_id", sa.String(64), nullable=True),
        sa.Column("direction", sa.String(16), nullable=True),
        sa.Column("track_id", sa.BigInteger(), nullable=False),
        sa.Column("start", _TS, nullable=False),
        sa.Column("end", _TS, nullable=True),
        sa.Column("media_time", sa.Float(), nullable=False),
        sa.Column("boxes", sa.JSON(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("snapshot", sa.String(512), nullable=True),
        sa.Column("dwell_seconds", sa.Float(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.UniqueConstraint("id", name="uq_detection_events_id"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_detection_events_camera_start", "detection_events", ["camera_id", "start"]
    )
    op.create_index("ix_detection_events_type_start", "detection_events", ["type", "start"])


def downgrade() -> None:
    op.drop_index("ix_detection_events_type_start", table_name="detection_events")
    op.drop_index("ix_detection_events_camera_start", table_name="detection_events")
    op.drop_table("detection_events")
    op.drop_table("users")
