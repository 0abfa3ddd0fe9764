"""devices: provisioned devices, presence, telemetry history and rollups, dead letters

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("profile", sa.String(64), nullable=False),
        sa.Column("grid", sa.String(64), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_table(
        "device_state",
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("session", sa.String(128), nullable=True),
        sa.Column("session_ts", sa.Float(), nullable=True),
        sa.Column("changed_at", sa.Float(), nullable=False),
        sa.Column("last_seen", sa.Float(), nullable=True),
        sa.Column("last_values", sa.JSON(), nullable=False),
    )
    op.create_table(
        "telemetry",
        sa.Column("id", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("text", sa.String(256), nullable=True),
    )
    op.create_index("ix_telemetry_device_key_ts", "telemetry", ["device_id", "key", "ts"])
    op.create_table(
        "telemetry_rollups",
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("resolution", sa.Integer(), primary_key=True),
        sa.Column("start", sa.Float(), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("min", sa.Float(), nullable=False),
        sa.Column("max", sa.Float(), nullable=False),
        sa.Column("sum", sa.Float(), nullable=False),
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=True),
        sa.Column("topic", sa.String(256), nullable=False),
        sa.Column("detail", sa.String(512), nullable=False),
        sa.Column("payload", sa.String(1024), nullable=False),
    )
    op.create_index("ix_dead_letters_reason_id", "dead_letters", ["reason", "id"])
    op.create_index("ix_dead_letters_device_id", "dead_letters", ["device_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_dead_letters_device_id", table_name="dead_letters")
    op.drop_index("ix_dead_letters_reason_id", table_name="dead_letters")
    op.drop_table("dead_letters")
    op.drop_table("telemetry_rollups")
    op.drop_index("ix_telemetry_device_key_ts", table_name="telemetry")
    op.drop_table("telemetry")
    op.drop_table("device_state")
    op.drop_table("devices")
