"""Synced sources: the state of each site, sitemap, Git repository and Confluence source.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

Hand-written to match ``source_states`` in core/backends/sql_schema.py (docs/sources.md);
tests/integration/test_migrations.py checks that they agree on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "source_states",
        sa.Column("space_id", sa.String(200), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("documents", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("skipped", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("cursor", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["space_id"], ["spaces.space_id"], name="fk_source_states_space_id_spaces", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("space_id", "location", name="pk_source_states"),
    )


def downgrade() -> None:
    op.drop_table("source_states")
