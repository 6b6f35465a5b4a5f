"""The feedback loop: verified answers, the answer each logged answer came from, and the indexes
that `ragbot forget --user` and the retention purge search by.

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-28

Hand-written to match core/backends/sql_schema.py (docs/feedback.md describes the feature).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "verified_answers",
        sa.Column("verified_id", sa.String(64), nullable=False),
        sa.Column("space_id", sa.String(200), nullable=False),
        sa.Column("question_key", sa.Text(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("doc_versions", sa.JSON(), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("lang", sa.String(16), nullable=False),
        sa.Column("from_answer_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["space_id"], ["spaces.space_id"], name="fk_verified_answers_space_id_spaces", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("verified_id", name="pk_verified_answers"),
        sa.UniqueConstraint("space_id", "question_key", name="uq_verified_answers_space_id_question_key"),
    )
    op.add_column("answers", sa.Column("verified_id", sa.String(64), nullable=True))
    op.create_index("ix_answers_platform_user_id", "answers", ["platform", "user_id"])
    op.create_index("ix_answers_created_at", "answers", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_answers_created_at", table_name="answers")
    op.drop_index("ix_answers_platform_user_id", table_name="answers")
    # In place (SQLite >= 3.35 drops a column natively): a batch copy would drop and recreate
    # `answers`, and with foreign keys on that deletes every vote and message link by cascade.
    op.drop_column("answers", "verified_id")
    op.drop_table("verified_answers")
