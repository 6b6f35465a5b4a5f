"""The SQL tables of ragbot's store, as SQLAlchemy Core metadata.

``migrations/`` (Alembic) creates these tables; a test checks that the migrated schema and this
metadata agree on SQLite and PostgreSQL. Change both together: a new migration for every change here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

__all__ = [
    "metadata",
    "UTCDateTime",
    "spaces",
    "documents",
    "channel_bindings",
    "pinned_sources",
    "answers",
    "answer_messages",
    "feedback",
    "admins",
    "locks",
    "verified_answers",
    "source_states",
    "suggested_prompts",
]

# Stable constraint names, so migrations can refer to them and both dialects agree.
metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on both dialects.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so values are stored as UTC
    without an offset and come back with ``tzinfo=UTC``. Naive datetimes are refused: a naive
    time is a bug waiting to show up on a server in another zone."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: ragbot stores timezone-aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


spaces = sa.Table(
    "spaces",
    metadata,
    sa.Column("space_id", sa.String(200), primary_key=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    # Grows with every change of the space's live documents; the answer cache keys on it.
    sa.Column("generation", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
)

documents = sa.Table(
    "documents",
    metadata,
    sa.Column(
        "space_id", sa.String(200), sa.ForeignKey("spaces.space_id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("doc_id", sa.Text(), primary_key=True),
    sa.Column("source", sa.Text(), nullable=False),
    sa.Column("title", sa.Text(), nullable=False),
    sa.Column("version", sa.String(128), nullable=False),  # the content hash of the live version
    sa.Column("doc_type", sa.String(64), nullable=False),
    sa.Column("lang", sa.String(16), nullable=False),
    sa.Column("chunks", sa.Integer(), nullable=False),
    sa.Column("ingested_at", UTCDateTime(), nullable=True),
    # "live" for rows the catalogue serves; other values are kept for diagnostics only.
    sa.Column("status", sa.String(16), nullable=False, server_default=sa.text("'live'")),
    sa.Column("last_error", sa.Text(), nullable=True),
)

channel_bindings = sa.Table(
    "channel_bindings",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("platform", sa.String(32), nullable=False),
    sa.Column("team_id", sa.String(64), nullable=False, server_default=sa.text("''")),
    sa.Column("channel_id", sa.String(128), nullable=False),
    sa.Column(
        "space_id", sa.String(200), sa.ForeignKey("spaces.space_id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("thread_followups", sa.Boolean(), nullable=False, server_default=sa.true()),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    # per-channel behaviour (migration 0004, docs/chat.md): when to answer, who sees it, the
    # default document type and the answer language when a question does not tell
    sa.Column("mode", sa.String(16), nullable=False, server_default=sa.text("'mention'")),
    sa.Column("visibility", sa.String(16), nullable=False, server_default=sa.text("'thread'")),
    sa.Column("doc_type", sa.String(64), nullable=True),
    sa.Column("lang", sa.String(16), nullable=True),
    sa.UniqueConstraint("platform", "team_id", "channel_id"),
    sa.Index(None, "space_id"),
)

pinned_sources = sa.Table(
    "pinned_sources",
    metadata,
    sa.Column("pin_id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column(
        "space_id", sa.String(200), sa.ForeignKey("spaces.space_id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("location", sa.Text(), nullable=False),
    sa.Column("every_s", sa.Integer(), nullable=True),
    sa.Column("cron", sa.String(128), nullable=True),
    sa.Column("doc_type", sa.String(64), nullable=True),
    sa.Column("pinned_by", sa.String(128), nullable=False, server_default=sa.text("''")),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("last_success_at", UTCDateTime(), nullable=True),
    sa.Column("last_failure_at", UTCDateTime(), nullable=True),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("consecutive_failures", sa.Integer(), nullable=False, server_default=sa.text("0")),
    sa.UniqueConstraint("space_id", "location"),
    sa.CheckConstraint("every_s IS NOT NULL OR cron IS NOT NULL", name="has_schedule"),
    sa.CheckConstraint("every_s IS NULL OR every_s > 0", name="every_s_positive"),
)

answers = sa.Table(
    "answers",
    metadata,
    sa.Column("answer_id", sa.String(64), primary_key=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("platform", sa.String(32), nullable=False, server_default=sa.text("''")),
    sa.Column("team_id", sa.String(64), nullable=False, server_default=sa.text("''")),
    sa.Column("channel_id", sa.String(128), nullable=False, server_default=sa.text("''")),
    sa.Column("user_id", sa.String(128), nullable=False, server_default=sa.text("''")),
    # The conversation (Slack thread_ts, Telegram root message id); "" outside a thread.
    sa.Column("thread_id", sa.String(128), nullable=False, server_default=sa.text("''")),
    # No foreign key to spaces: the log outlives a space's documents.
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
    sa.Index(None, "space_id", "created_at"),
    sa.Index(None, "platform", "channel_id", "thread_id", "created_at"),
    # Answered from this verified answer (no foreign key: the log keeps it after the removal).
    sa.Column("verified_id", sa.String(64), nullable=True),
    sa.Index(None, "platform", "user_id"),  # ragbot forget --user
    sa.Index(None, "created_at"),  # the retention purge
)

# The platform messages that show an answer (a long answer may take several), so that a reply
# to one of them continues that answer's thread.
answer_messages = sa.Table(
    "answer_messages",
    metadata,
    sa.Column("platform", sa.String(32), primary_key=True),
    sa.Column("channel_id", sa.String(128), primary_key=True),
    sa.Column("message_id", sa.String(128), primary_key=True),
    sa.Column(
        "answer_id", sa.String(64), sa.ForeignKey("answers.answer_id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index(None, "answer_id"),
)

feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column(
        "answer_id",
        sa.String(64),
        sa.ForeignKey("answers.answer_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("user_id", sa.String(128), primary_key=True),  # one vote per user per answer
    sa.Column("value", sa.SmallInteger(), nullable=False),
    # The value this vote replaced, set by the upsert itself: it makes "changed" exact under concurrency.
    sa.Column("previous_value", sa.SmallInteger(), nullable=True),
    sa.Column("reason", sa.Text(), nullable=True),
    sa.Column("platform", sa.String(32), nullable=False, server_default=sa.text("''")),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.CheckConstraint("value IN (-1, 1)", name="value_is_vote"),
)

admins = sa.Table(
    "admins",
    metadata,
    sa.Column("platform", sa.String(32), primary_key=True),
    sa.Column("user_id", sa.String(128), primary_key=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

locks = sa.Table(
    "locks",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Index(None, "expires_at"),  # the sweep of expired leases
)

# Answers people vouched for (docs/feedback.md). One per question per space: verifying the same
# question again replaces it.
verified_answers = sa.Table(
    "verified_answers",
    metadata,
    sa.Column("verified_id", sa.String(64), primary_key=True),
    sa.Column(
        "space_id", sa.String(200), sa.ForeignKey("spaces.space_id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("question_key", sa.Text(), nullable=False),  # core.text.normalise_question(question)
    sa.Column("question", sa.Text(), nullable=False),
    sa.Column("answer", sa.Text(), nullable=False),
    sa.Column("sources", sa.JSON(), nullable=False),
    # {doc_id: version} of the source documents when it was written: a new version flags it for review
    sa.Column("doc_versions", sa.JSON(), nullable=False),
    sa.Column("author", sa.String(200), nullable=False),
    sa.Column("lang", sa.String(16), nullable=False),
    # No foreign key: a verified answer outlives the answer log's retention.
    sa.Column("from_answer_id", sa.String(64), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("space_id", "question_key"),
)

# What the last run of each synced source (site, sitemap, Git repository, Confluence) did, and the
# cursor its next run starts from (validators, lastmods, blob ids, page versions: docs/sources.md).
source_states = sa.Table(
    "source_states",
    metadata,
    sa.Column(
        "space_id", sa.String(200), sa.ForeignKey("spaces.space_id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("location", sa.Text(), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("last_run_at", UTCDateTime(), nullable=True),
    sa.Column("last_success_at", UTCDateTime(), nullable=True),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("documents", sa.Integer(), nullable=False, server_default=sa.text("0")),
    sa.Column("skipped", sa.Integer(), nullable=False, server_default=sa.text("0")),
    sa.Column("cursor", sa.JSON(), nullable=False),
)


# The prompts an admin chose to suggest in Slack's assistant threads for a space (migration 0004);
# without any, the space's most asked questions are suggested.
suggested_prompts = sa.Table(
    "suggested_prompts",
    metadata,
    sa.Column(
        "space_id", sa.String(200), sa.ForeignKey("spaces.space_id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("position", sa.Integer(), primary_key=True),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)
