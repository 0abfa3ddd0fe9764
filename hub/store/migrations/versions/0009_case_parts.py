"""case_parts: co-dispatch (联合派遣), one part per department; case indexes for the pending
filter and for workers' own reports

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "case_parts",
        sa.Column("id", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.BigInteger(), nullable=False),
        sa.Column("department", sa.String(64), nullable=False),
        sa.Column("assignee", sa.String(64), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("note", sa.String(2000), nullable=True),
        sa.Column("feedback", sa.String(2000), nullable=True),
        sa.Column("photos", sa.JSON(), nullable=False),
        sa.Column("rework_count", sa.Integer(), nullable=False),
        sa.Column("dispatched_by", sa.String(64), nullable=False),
        sa.Column("dispatched_at", _TS, nullable=False),
        sa.Column("received_at", _TS, nullable=True),
        sa.Column("handled_at", _TS, nullable=True),
        sa.Column("closed_at", _TS, nullable=True),
        sa.Column("returned_at", _TS, nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_index("ix_case_parts_case_id", "case_parts", ["case_id", "id"])
    op.create_index("ix_case_parts_assignee_case", "case_parts", ["assignee", "case_id"])
    op.create_index("ix_cases_pending_id", "cases", ["pending", "id"])
    op.create_index("ix_cases_reporter", "cases", ["reporter"])


def downgrade() -> None:
    op.drop_index("ix_cases_reporter", table_name="cases")
    op.drop_index("ix_cases_pending_id", table_name="cases")
    op.drop_index("ix_case_parts_assignee_case", table_name="case_parts")
    op.drop_index("ix_case_parts_case_id", table_name="case_parts")
    op.drop_table("case_parts")
