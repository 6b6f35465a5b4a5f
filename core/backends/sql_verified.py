"""SQL for verified answers (docs/feedback.md): rows as ``VerifiedAnswer`` and back, the upsert
that keeps one per question per space. ``SqlStore`` owns the connections and calls these."""

from __future__ import annotations

import dataclasses
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from core.backends.sql_schema import verified_answers
from core.models import Source, VerifiedAnswer
from core.text import normalise_question

__all__ = ["verified_row", "verified_upsert", "to_verified", "get_verified", "list_verified"]


def verified_row(verified: VerifiedAnswer) -> dict[str, Any]:
    return {
        "verified_id": verified.verified_id,
        "space_id": verified.space_id,
        "question_key": normalise_question(verified.question),
        "question": verified.question,
        "answer": verified.text,
        "sources": [dataclasses.asdict(s) for s in verified.sources],
        "doc_versions": dict(verified.doc_versions),
        "author": verified.author,
        "lang": verified.lang,
        "from_answer_id": verified.from_answer_id,
        "created_at": verified.created_at,
    }


def verified_upsert(insert: Any, verified: VerifiedAnswer) -> Any:
    """Insert, or replace the space's verified answer to the same question (keeping its id);
    returns the stored row. One statement, so two admins verifying at once leave one answer."""
    row = verified_row(verified)
    stmt = insert.values(**row)
    changes = {k: stmt.excluded[k] for k in row if k not in ("verified_id", "space_id", "question_key")}
    v = verified_answers.c
    return stmt.on_conflict_do_update(index_elements=[v.space_id, v.question_key], set_=changes).returning(
        verified_answers
    )


def to_verified(row: Any) -> VerifiedAnswer:
    return VerifiedAnswer(
        verified_id=row["verified_id"],
        space_id=row["space_id"],
        question=row["question"],
        text=row["answer"],
        sources=tuple(Source(**s) for s in row["sources"]),
        author=row["author"],
        created_at=row["created_at"],
        lang=row["lang"],
        from_answer_id=row["from_answer_id"],
        doc_versions=tuple(sorted(row["doc_versions"].items())),
    )


async def get_verified(conn: AsyncConnection, verified_id: str) -> VerifiedAnswer | None:
    query = sa.select(verified_answers).where(verified_answers.c.verified_id == verified_id)
    row = (await conn.execute(query)).mappings().one_or_none()
    return to_verified(row) if row is not None else None


async def list_verified(conn: AsyncConnection, space_id: str | None) -> list[VerifiedAnswer]:
    v = verified_answers.c
    query = sa.select(verified_answers).order_by(v.created_at.desc(), v.verified_id)
    if space_id is not None:
        query = query.where(v.space_id == space_id)
    return [to_verified(row) for row in (await conn.execute(query)).mappings().all()]
