"""detection_events.object_kind, count and cause: the details of the new video event types
(abandoned object / illegal parking, crowd, tampering and the fire/smoke heuristics)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("detection_events") as batch:
        batch.add_column(sa.Column("object_kind", sa.String(16), nullable=True))
        batch.add_column(sa.Column("count", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("cause", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("detection_events") as batch:
        batch.drop_column("cause")
        batch.drop_column("count")
        batch.drop_column("object_kind")
