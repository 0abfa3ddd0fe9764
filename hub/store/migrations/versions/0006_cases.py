"""cases: the case loop's cases, their timeline and evidence

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.String(2000), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("source_ref", sa.String(64), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("pending", sa.String(16), nullable=True),
        sa.Column("grid_id", sa.String(64), nullable=True),
        sa.Column("community_id", sa.String(64), nullable=True),
        sa.Column("street_id", sa.String(64), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("address", sa.String(200), nullable=True),
        sa.Column("department", sa.String(64), nullable=True),
        sa.Column("reporter", sa.String(64), nullable=False),
        sa.Column("assignee", sa.String(64), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("yellow_at", _TS, nullable=True),
        sa.Column("deadline", _TS, nullable=True),
        sa.Column("stage", sa.String(16), nullable=True),
        sa.Column("stage_started_at", _TS, nullable=True),
        sa.Column("stage_yellow_at", _TS, nullable=True),
        sa.Column("stage_deadline", _TS, nullable=True),
        sa.Column("light", sa.String(8), nullable=False),
        sa.Column("escalation", sa.Integer(), nullable=False),
        sa.Column("evidence_count", sa.Integer(), nullable=False),
        sa.Column("last_evidence_at", _TS, nullable=False),
        sa.Column("accepted_at", _TS, nullable=True),
        sa.Column("opened_at", _TS, nullable=True),
        sa.Column("dispatched_at", _TS, nullable=True),
        sa.Column("received_at", _TS, nullable=True),
        sa.Column("handled_at", _TS, nullable=True),
        sa.Column("closed_at", _TS, nullable=True),
        sa.Column("evaluated_at", _TS, nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("rework_count", sa.Integer(), nullable=False),
    )
    op.create_index("ix_cases_state_id", "cases", ["state", "id"])
    op.create_index("ix_cases_assignee_state", "cases", ["assignee", "state"])
    op.create_index("ix_cases_grid_state", "cases", ["grid_id", "state"])
    op.create_index("ix_cases_fusion", "cases", ["category", "state", "last_evidence_at"])
    op.create_index("ix_cases_created_at", "cases", ["created_at"])
    op.create_table(
        "case_timeline",
        sa.Column("id", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.BigInteger(), nullable=False),
        sa.Column("ts", _TS, nullable=False),
        sa.Column("action", sa.String(24), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=True),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_index("ix_case_timeline_case_id", "case_timeline", ["case_id", "id"])
    op.create_table(
        "case_evidence",
        sa.Column("id", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.BigInteger(), nullable=False),
        sa.Column("ts", _TS, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(64), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_index(
        "ix_case_evidence_ref", "case_evidence", ["kind", "ref", "case_id"], unique=True
    )


def downgrade() -> None:
    op.drop_index("ix_case_evidence_ref", table_name="case_evidence")
    op.drop_table("case_evidence")
    op.drop_index("ix_case_timeline_case_id", table_name="case_timeline")
    op.drop_table("case_timeline")
    for ix in ("ix_cases_created_at", "ix_cases_fusion", "ix_cases_grid_state",
               "ix_cases_assignee_state", "ix_cases_state_id"):  # fmt: skip
        op.drop_index(ix, table_name="cases")
    op.drop_table("cases")
