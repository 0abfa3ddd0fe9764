"""detection_events.lon and lat: where a moving unit (a drone, a camera vehicle) was when it saw
the event

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("detection_events") as batch:
        batch.add_column(sa.Column("lon", sa.Float(), nullable=True))
        batch.add_column(sa.Column("lat", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("detection_events") as batch:
        batch.drop_column("lat")
        batch.drop_column("lon")
