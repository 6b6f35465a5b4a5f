"""Per-channel settings stored with the binding (mode, visibility, default doc_type, answer
language) and the prompts an admin suggests in Slack's assistant threads for a space.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

Hand-written to match ``channel_bindings`` and ``suggested_prompts`` in
core/backends/sql_schema.py (docs/chat.md); tests/integration/test_migrations.py checks that they
agree on SQLite and PostgreSQL. Existing bindings keep today's behaviour: mention, in the thread.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # batch mode: SQLite alters a table by copying it, PostgreSQL runs plain ALTER TABLE
    with op.batch_alter_table("channel_bindings") as batch:
        batch.add_column(
            sa.Column("mode", sa.String(16), server_default=sa.text("'mention'"), nullable=False)
        )
        batch.add_column(
            sa.Column("visibility", sa.String(16), server_default=sa.text("'thread'"), nullable=False)
        )
        batch.add_column(sa.Column("doc_type", sa.String(64), nullable=True))
        batch.add_column(sa.Column("lang", sa.String(16), nullable=True))
    op.create_table(
        "suggested_prompts",
        sa.Column("space_id", sa.String(200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["space_id"], ["spaces.space_id"], name="fk_suggested_prompts_space_id_spaces", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("space_id", "position", name="pk_suggested_prompts"),
    )


def downgrade() -> None:
    op.drop_table("suggested_prompts")
    with op.batch_alter_table("channel_bindings") as batch:
        batch.drop_column("lang")
        batch.drop_column("doc_type")
        batch.drop_column("visibility")
        batch.drop_column("mode")
