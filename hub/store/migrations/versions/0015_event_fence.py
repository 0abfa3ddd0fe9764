"""detection_events.fence: the camera lease's fencing token the event was analysed under (a
video worker of a cluster; hub/cluster/leases.py)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("detection_events") as batch:
        batch.add_column(sa.Column("fence", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("detection_events") as batch:
        batch.drop_column("fence")
