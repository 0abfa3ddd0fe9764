"""detection_events.clip and evidence_expired_at: the event's MP4 evidence clip, and when
retention removed its snapshot or clip

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("detection_events") as batch:
        batch.add_column(sa.Column("clip", sa.String(512), nullable=True))
        batch.add_column(sa.Column("evidence_expired_at", _TS, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("detection_events") as batch:
        batch.drop_column("evidence_expired_at")
        batch.drop_column("clip")
