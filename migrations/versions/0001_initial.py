"""Initial schema: spaces, documents, channel bindings, pinned sources, answers and the messages
showing them, feedback, admins, locks.

Revision ID: 0001
Revises:
Create Date: 2025-11-27

Hand-written to match core/backends/sql_schema.py; tests/integration/test_migrations.py checks
that they agree on SQLite and PostgreSQL. Times are ``timestamptz`` on PostgreSQL; on SQLite they
hold UTC (the application's UTCDateTime type adds the zone back when reading).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc(name: str, nullable: bool) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "spaces",
        sa.Column("space_id", sa.String(200), nullable=False),
        _utc("created_at", False),
        sa.Column("generation", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("space_id", name="pk_spaces"),
    )
    op.create_table(
        "documents",
        sa.Column("space_id", sa.String(200), nullable=False),
        sa.Column("doc_id", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("version", sa.String(128), nullable=False),
        sa.Column("doc_type", sa.String(64), nullable=False),
        sa.Column("lang", sa.String(16), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        _utc("ingested_at", True),
        sa.Column("status", sa.String(16), server_default=sa.text("'live'"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["space_id"], ["spaces.space_id"], name="fk_documents_space_id_spaces", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("space_id", "doc_id", name="pk_documents"),
    )
    op.create_table(
        "channel_bindings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("team_id", sa.String(64), server_default=sa.text("''"), nullable=False),
        sa.Column("channel_id", sa.String(128), nullable=False),
        sa.Column("space_id", sa.String(200), nullable=False),
        sa.Column("thread_followups", sa.Boolean(), server_default=sa.true(), nullable=False),
        _utc("created_at", False),
        _utc("updated_at", False),
        sa.ForeignKeyConstraint(
            ["space_id"], ["spaces.space_id"], name="fk_channel_bindings_space_id_spaces", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_channel_bindings"),
        sa.UniqueConstraint(
            "platform", "team_id", "channel_id", name="uq_channel_bindings_platform_team_id_channel_id"
        ),
    )
    op.create_index("ix_channel_bindings_space_id", "channel_bindings", ["space_id"])
    op.create_table(
        "pinned_sources",
        sa.Column("pin_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("space_id", sa.String(200), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("every_s", sa.Integer(), nullable=True),
        sa.Column("cron", sa.String(128), nullable=True),
        sa.Column("doc_type", sa.String(64), nullable=True),
        sa.Column("pinned_by", sa.String(128), server_default=sa.text("''"), nullable=False),
        _utc("created_at", False),
        _utc("last_success_at", True),
        _utc("last_failure_at", True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint("every_s IS NOT NULL OR cron IS NOT NULL", name="ck_pinned_sources_has_schedule"),
        sa.CheckConstraint("every_s IS NULL OR every_s > 0", name="ck_pinned_sources_every_s_positive"),
        sa.ForeignKeyConstraint(
            ["space_id"], ["spaces.space_id"], name="fk_pinned_sources_space_id_spaces", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("pin_id", name="pk_pinned_sources"),
        sa.UniqueConstraint("space_id", "location", name="uq_pinned_sources_space_id_location"),
    )
    op.create_table(
        "answers",
        sa.Column("answer_id", sa.String(64), nullable=False),
        _utc("created_at", False),
        sa.Column("platform", sa.String(32), server_default=sa.text("''"), nullable=False),
        sa.Column("team_id", sa.String(64), server_default=sa.text("''"), nullable=False),
        sa.Column("channel_id", sa.String(128), server_default=sa.text("''"), nullable=False),
        sa.Column("user_id", sa.String(128), server_default=sa.text("''"), nullable=False),
        sa.Column("thread_id", sa.String(128), server_default=sa.text("''"), nullable=False),
        sa.Column("space_id", sa.String(200), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("doc_type", sa.String(64), nullable=True),
        sa.Column("lang", sa.String(16), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("cache_hit", sa.Boolean(), nullable=False),
        sa.Column("declined", sa.Boolean(), nullable=False),
        sa.Column("interrupted", sa.Text(), nullable=True),
        sa.Column("retrieval_s", sa.Float(), nullable=False),
        sa.Column("queue_s", sa.Float(), nullable=False),
        sa.Column("prefill_s", sa.Float(), nullable=False),
        sa.Column("decode_s", sa.Float(), nullable=False),
        sa.Column("total_s", sa.Float(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("context_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("answer_id", name="pk_answers"),
    )
    op.create_index("ix_answers_space_id_created_at", "answers", ["space_id", "created_at"])
    op.create_index(
        "ix_answers_platform_channel_id_thread_id_created_at",
        "answers",
        ["platform", "channel_id", "thread_id", "created_at"],
    )
    op.create_table(
        "answer_messages",
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("channel_id", sa.String(128), nullable=False),
        sa.Column("message_id", sa.String(128), nullable=False),
        sa.Column("answer_id", sa.String(64), nullable=False),
        _utc("created_at", False),
        sa.ForeignKeyConstraint(
            ["answer_id"],
            ["answers.answer_id"],
            name="fk_answer_messages_answer_id_answers",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("platform", "channel_id", "message_id", name="pk_answer_messages"),
    )
    op.create_index("ix_answer_messages_answer_id", "answer_messages", ["answer_id"])
    op.create_table(
        "feedback",
        sa.Column("answer_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("value", sa.SmallInteger(), nullable=False),
        sa.Column("previous_value", sa.SmallInteger(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("platform", sa.String(32), server_default=sa.text("''"), nullable=False),
        _utc("created_at", False),
        _utc("updated_at", False),
        sa.CheckConstraint("value IN (-1, 1)", name="ck_feedback_value_is_vote"),
        sa.ForeignKeyConstraint(
            ["answer_id"], ["answers.answer_id"], name="fk_feedback_answer_id_answers", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("answer_id", "user_id", name="pk_feedback"),
    )
    op.create_table(
        "admins",
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        _utc("created_at", False),
        sa.PrimaryKeyConstraint("platform", "user_id", name="pk_admins"),
    )
    op.create_table(
        "locks",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        _utc("expires_at", False),
        sa.PrimaryKeyConstraint("name", name="pk_locks"),
    )
    op.create_index("ix_locks_expires_at", "locks", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_locks_expires_at", table_name="locks")
    op.drop_table("locks")
    op.drop_table("admins")
    op.drop_table("feedback")
    op.drop_index("ix_answer_messages_answer_id", table_name="answer_messages")
    op.drop_table("answer_messages")
    op.drop_index("ix_answers_platform_channel_id_thread_id_created_at", table_name="answers")
    op.drop_index("ix_answers_space_id_created_at", table_name="answers")
    op.drop_table("answers")
    op.drop_table("pinned_sources")
    op.drop_index("ix_channel_bindings_space_id", table_name="channel_bindings")
    op.drop_table("channel_bindings")
    op.drop_table("documents")
    op.drop_table("spaces")
