"""alarms: alarms raised by device rules, their timeline, the rule engine's state

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alarms",
        sa.Column("id", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("device_name", sa.String(128), nullable=False),
        sa.Column("profile", sa.String(64), nullable=False),
        sa.Column("grid_id", sa.String(64), nullable=True),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("rule_name", sa.String(128), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("acknowledged_at", _TS, nullable=True),
        sa.Column("cleared_at", _TS, nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.Column("key", sa.String(64), nullable=True),
        sa.Column("last_ts", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("assignee", sa.String(64), nullable=True),
        sa.Column("cameras", sa.JSON(), nullable=False),
    )
    op.create_index("ix_alarms_device_rule", "alarms", ["device_id", "rule_id", "state"])
    op.create_index("ix_alarms_state_id", "alarms", ["state", "id"])
    op.create_table(
        "alarm_changes",
        sa.Column("id", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("alarm_id", sa.BigInteger(), nullable=False),
        sa.Column("ts", _TS, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_index("ix_alarm_changes_alarm_id", "alarm_changes", ["alarm_id", "id"])
    op.create_table(
        "alarm_rule_state",
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("rule_id", sa.String(64), primary_key=True),
        sa.Column("state", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("alarm_rule_state")
    op.drop_index("ix_alarm_changes_alarm_id", table_name="alarm_changes")
    op.drop_table("alarm_changes")
    op.drop_index("ix_alarms_state_id", table_name="alarms")
    op.drop_index("ix_alarms_device_rule", table_name="alarms")
    op.drop_table("alarms")
