"""SQL for the answer log (answers, the messages that show them, conversation history) and the
feedback on answers (the vote upsert, the stats queries). ``SqlStore`` owns the connections and
transactions and calls these."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from core.backends import sql_verified
from core.backends.sql_schema import answer_messages, answers, feedback
from core.models import (
    Answer,
    Asker,
    ChunkVote,
    FeedbackStats,
    ForgetReport,
    RatedAnswer,
    Source,
    Timings,
    Turn,
    VerifiedAnswer,
    Vote,
)

__all__ = [
    "answer_row",
    "get_answer",
    "answer_from_row",
    "thread_turns",
    "message_link_upsert",
    "thread_of_message",
    "vote_upsert",
    "feedback_stats",
    "chunk_votes",
    "answer_of_message",
    "forget_user",
    "purge_answers",
    "asked_questions",
]

_TIMINGS = tuple(f.name for f in dataclasses.fields(Timings))


def answer_row(answer: Answer, asker: Asker | None, *, created_at: datetime) -> dict[str, Any]:
    return {
        "answer_id": answer.answer_id,
        "created_at": created_at,
        "platform": asker.platform if asker else "",
        "team_id": asker.team_id if asker else "",
        "channel_id": asker.channel_id if asker else "",
        "user_id": asker.user_id if asker else "",
        "thread_id": asker.thread_id if asker else "",
        "space_id": answer.space_id,
        "question": answer.question,
        "answer": answer.text,
        "sources": [dataclasses.asdict(s) for s in answer.sources],
        "doc_type": answer.doc_type,
        "lang": answer.lang,
        "model": answer.model,
        "cache_hit": answer.cache_hit,
        "declined": answer.declined,
        "interrupted": answer.interrupted,
        **{name: getattr(answer.timings, name) for name in _TIMINGS},
        "verified_id": answer.verified.verified_id if answer.verified else None,
    }


async def get_answer(conn: AsyncConnection, answer_id: str) -> Answer | None:
    query = sa.select(answers).where(answers.c.answer_id == answer_id)
    row = (await conn.execute(query)).mappings().one_or_none()
    if row is None:
        return None
    verified = None
    if row["verified_id"] is not None:  # None again once the verified answer is removed
        verified = await sql_verified.get_verified(conn, row["verified_id"])
    return answer_from_row(row, verified)


def answer_from_row(row: Any, verified: VerifiedAnswer | None = None) -> Answer:
    """A row of ``answers`` (a mapping) as the Answer it records; ``verified``: the verified answer
    it was answered from, read by the caller (``row["verified_id"]``)."""
    return Answer(
        answer_id=row["answer_id"],
        question=row["question"],
        space_id=row["space_id"],
        text=row["answer"],
        sources=tuple(Source(**s) for s in row["sources"]),
        lang=row["lang"],
        model=row["model"],
        timings=Timings(**{name: row[name] for name in _TIMINGS}),
        cache_hit=bool(row["cache_hit"]),
        declined=bool(row["declined"]),
        interrupted=row["interrupted"],
        doc_type=row["doc_type"],
        verified=verified,
    )


async def thread_turns(
    conn: AsyncConnection, platform: str, channel_id: str, thread_id: str, limit: int
) -> list[Turn]:
    if limit <= 0:
        return []
    a = answers.c
    query = (
        sa.select(a.question, a.answer)
        .where(a.platform == platform, a.channel_id == channel_id, a.thread_id == thread_id)
        .order_by(a.created_at.desc(), a.answer_id.desc())
        .limit(limit)
    )
    rows = (await conn.execute(query)).all()
    return [
        turn
        for question, text in reversed(rows)
        for turn in (Turn("user", question), Turn("assistant", text))
    ]


def message_link_upsert(insert: Any, answer_id: str, message_id: str, *, at: datetime) -> Any:
    """Link ``message_id`` (in the answer's own platform and channel) to the answer; returns the
    linked answer id, or no row when there is no such answer."""
    source = sa.select(
        answers.c.platform,
        answers.c.channel_id,
        sa.literal(message_id, sa.String()),
        answers.c.answer_id,
        sa.literal(at, answer_messages.c.created_at.type),
    ).where(answers.c.answer_id == answer_id)
    stmt = insert.from_select(["platform", "channel_id", "message_id", "answer_id", "created_at"], source)
    return stmt.on_conflict_do_update(
        index_elements=[
            answer_messages.c.platform,
            answer_messages.c.channel_id,
            answer_messages.c.message_id,
        ],
        set_={"answer_id": stmt.excluded.answer_id, "created_at": stmt.excluded.created_at},
    ).returning(answer_messages.c.answer_id)


async def thread_of_message(
    conn: AsyncConnection, platform: str, channel_id: str, message_id: str
) -> str | None:
    m = answer_messages.c
    query = (
        sa.select(answers.c.thread_id)
        .select_from(answer_messages.join(answers, m.answer_id == answers.c.answer_id))
        .where(m.platform == platform, m.channel_id == channel_id, m.message_id == message_id)
    )
    return (await conn.execute(query)).scalar_one_or_none()


def vote_upsert(insert: Any, vote: Vote, *, at: datetime) -> Any:
    """One statement that records ``vote`` and returns ``previous_value`` (None: first vote).

    It inserts from a SELECT on ``answers``, so a vote on an unknown answer inserts nothing and
    returns no row. On conflict it overwrites the user's vote and keeps the value it replaced, read
    from the row being updated: exact even when the same user's votes race."""
    source = sa.select(
        answers.c.answer_id,
        sa.literal(vote.user_id, sa.String()),
        sa.literal(vote.value, sa.SmallInteger()),
        sa.literal(vote.reason, sa.Text()),
        sa.literal(vote.platform, sa.String()),
        sa.literal(at, feedback.c.created_at.type),
        sa.literal(at, feedback.c.updated_at.type),
    ).where(answers.c.answer_id == vote.answer_id)
    columns = ["answer_id", "user_id", "value", "reason", "platform", "created_at", "updated_at"]
    stmt = insert.from_select(columns, source)
    return stmt.on_conflict_do_update(
        index_elements=[feedback.c.answer_id, feedback.c.user_id],
        set_={
            "previous_value": feedback.c.value,
            "value": stmt.excluded.value,
            "reason": stmt.excluded.reason,
            "platform": stmt.excluded.platform,
            "updated_at": stmt.excluded.updated_at,
        },
    ).returning(feedback.c.value, feedback.c.previous_value)


async def feedback_stats(conn: AsyncConnection, space_id: str | None, worst: int) -> FeedbackStats:
    """Totals over the space (or everything), and the ``worst`` answers by net rating.

    "Worst" means at least one down vote, ordered by up minus down, then most down votes, then
    most recent; each comes with its question and the reasons given with its down votes."""
    in_space = [answers.c.space_id == space_id] if space_id is not None else []
    n_answers = (
        await conn.execute(sa.select(sa.func.count()).select_from(answers).where(*in_space))
    ).scalar_one()

    up = sa.func.coalesce(sa.func.sum(sa.case((feedback.c.value > 0, 1), else_=0)), 0)
    down = sa.func.coalesce(sa.func.sum(sa.case((feedback.c.value < 0, 1), else_=0)), 0)
    joined = feedback.join(answers, feedback.c.answer_id == answers.c.answer_id)
    total_up, total_down = (
        await conn.execute(sa.select(up, down).select_from(joined).where(*in_space))
    ).one()

    rated: list[RatedAnswer] = []
    if worst > 0:
        per_answer = (
            sa.select(answers.c.answer_id, answers.c.question, up.label("up"), down.label("down"))
            .select_from(joined)
            .where(*in_space)
            .group_by(answers.c.answer_id, answers.c.question, answers.c.created_at)
            .having(down > 0)
            .order_by((up - down).asc(), down.desc(), answers.c.created_at.desc(), answers.c.answer_id)
            .limit(worst)
        )
        rows = (await conn.execute(per_answer)).all()
        reasons = await _down_reasons(conn, [r.answer_id for r in rows])
        rated = [
            RatedAnswer(r.answer_id, r.question, int(r.up), int(r.down), tuple(reasons.get(r.answer_id, ())))
            for r in rows
        ]
    return FeedbackStats(space_id, int(n_answers), int(total_up), int(total_down), tuple(rated))


async def _down_reasons(conn: AsyncConnection, answer_ids: list[str]) -> dict[str, list[str]]:
    if not answer_ids:
        return {}
    f = feedback.c
    query = (
        sa.select(f.answer_id, f.reason)
        .where(f.answer_id.in_(answer_ids), f.value < 0, f.reason.is_not(None), f.reason != "")
        .order_by(f.updated_at, f.user_id)
    )
    out: dict[str, list[str]] = {}
    for answer_id, reason in (await conn.execute(query)).all():
        out.setdefault(answer_id, []).append(reason)
    return out


async def chunk_votes(conn: AsyncConnection, space_id: str) -> list[ChunkVote]:
    """Each vote on a generated answer of the space, once per chunk it cited (every chunk it was
    given when it cited none); sources without a chunk (older answers) count for nothing."""
    f, a = feedback.c, answers.c
    query = (
        sa.select(a.sources, f.value, f.updated_at, a.question)
        .select_from(feedback.join(answers, f.answer_id == a.answer_id))
        .where(a.space_id == space_id, a.verified_id.is_(None))
    )
    out: list[ChunkVote] = []
    for sources, value, at, question in (await conn.execute(query)).all():
        cited = [s for s in sources if s.get("cited")] or sources
        out.extend(
            ChunkVote(s["chunk_id"], s["doc_id"], int(value), at, question)
            for s in cited
            if s.get("chunk_id")
        )
    return out


async def answer_of_message(
    conn: AsyncConnection, platform: str, channel_id: str, message_id: str
) -> str | None:
    m = answer_messages.c
    query = sa.select(m.answer_id).where(
        m.platform == platform, m.channel_id == channel_id, m.message_id == message_id
    )
    return (await conn.execute(query)).scalar_one_or_none()


async def forget_user(conn: AsyncConnection, platform: str, user_id: str) -> ForgetReport:
    """The person's answers go with everything hanging off them (votes, message links: ON DELETE
    CASCADE); their votes on other people's answers go too."""
    a, f = answers.c, feedback.c
    theirs = sa.select(a.answer_id).where(a.platform == platform, a.user_id == user_id)
    votes = await conn.execute(
        sa.delete(feedback).where(f.platform == platform, f.user_id == user_id, f.answer_id.not_in(theirs))
    )
    asked = await conn.execute(sa.delete(answers).where(a.platform == platform, a.user_id == user_id))
    return ForgetReport(answers=asked.rowcount, votes=votes.rowcount)


async def purge_answers(conn: AsyncConnection, before: datetime) -> int:
    result = await conn.execute(sa.delete(answers).where(answers.c.created_at < before))
    return result.rowcount


async def asked_questions(conn: AsyncConnection, space_id: str, limit: int) -> list[tuple[str, int]]:
    """Each question answered from the space (not declined, not cut off) with how often it was
    asked: most often first, then most recently asked, then alphabetically."""
    if limit <= 0:
        return []
    a = answers.c
    times = sa.func.count().label("times")
    last = sa.func.max(a.created_at).label("last")
    query = (
        sa.select(a.question, times, last)
        .where(a.space_id == space_id, a.declined.is_(False), a.interrupted.is_(None))
        .group_by(a.question)
        .order_by(times.desc(), last.desc(), a.question)
        .limit(limit)
    )
    return [(row.question, int(row.times)) for row in (await conn.execute(query)).all()]
