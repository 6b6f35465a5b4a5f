"""SQL for what the admin console reads of the answer log (docs/console.md): the question log with
its filters, one answer with its votes, the review queue of thumbs-down, usage per day. Read-only
queries over ``answers`` and ``feedback``; ``SqlStore`` owns the connections and calls these."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from core.backends.sql_answers import answer_from_row
from core.backends.sql_schema import answers, feedback, verified_answers
from core.backends.sql_verified import to_verified
from core.models import (
    Asker,
    LoggedAnswer,
    QuestionLogPage,
    QuestionLogQuery,
    RecordedVote,
    UsageReport,
    VerifiedAnswer,
)
from core.usage import AnswerFacts, summarise_usage, usage_window

__all__ = ["question_log", "logged_answer", "review_queue", "usage"]

_a, _f = answers.c, feedback.c


def _asker(row: Any) -> Asker | None:
    if not row["platform"] and not row["user_id"]:
        return None  # recorded without an asker (the CLI, a benchmark)
    return Asker(
        platform=row["platform"],
        user_id=row["user_id"],
        channel_id=row["channel_id"],
        team_id=row["team_id"],
        thread_id=row["thread_id"],
    )


async def _votes(conn: AsyncConnection, answer_ids: Sequence[str]) -> dict[str, list[RecordedVote]]:
    if not answer_ids:
        return {}
    query = (
        sa.select(_f.answer_id, _f.user_id, _f.value, _f.reason, _f.platform, _f.updated_at)
        .where(_f.answer_id.in_(list(answer_ids)))
        .order_by(_f.updated_at, _f.user_id)
    )
    out: dict[str, list[RecordedVote]] = {}
    for r in (await conn.execute(query)).all():
        out.setdefault(r.answer_id, []).append(
            RecordedVote(r.user_id, int(r.value), r.reason, r.platform, r.updated_at)
        )
    return out


async def _verified(conn: AsyncConnection, rows: Sequence[Any]) -> dict[str, VerifiedAnswer]:
    """The verified answers the rows were answered from, as they are now (a removed one is absent)."""
    ids = {row["verified_id"] for row in rows if row["verified_id"] is not None}
    if not ids:
        return {}
    query = sa.select(verified_answers).where(verified_answers.c.verified_id.in_(sorted(ids)))
    return {r["verified_id"]: to_verified(r) for r in (await conn.execute(query)).mappings().all()}


async def _logged(conn: AsyncConnection, rows: Sequence[Any]) -> list[LoggedAnswer]:
    votes = await _votes(conn, [row["answer_id"] for row in rows])
    verified = await _verified(conn, rows)
    return [
        LoggedAnswer(
            answer_from_row(row, verified.get(row["verified_id"] or "")),
            row["created_at"],
            _asker(row),
            tuple(votes.get(row["answer_id"], ())),
        )
        for row in rows
    ]


def _has_vote(sign: int | None) -> sa.Exists:
    where = [_f.answer_id == _a.answer_id]
    if sign is not None:
        where.append(_f.value > 0 if sign > 0 else _f.value < 0)
    return sa.exists().where(*where)


def _log_filters(query: QuestionLogQuery) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = []
    if query.space_id is not None:
        where.append(_a.space_id == query.space_id)
    if query.declined is not None:
        where.append(_a.declined.is_(sa.true()) if query.declined else _a.declined.is_(sa.false()))
    if query.since is not None:
        where.append(_a.created_at >= query.since)
    if query.until is not None:
        where.append(_a.created_at < query.until)
    if query.vote == "up":
        where.append(_has_vote(1))
    elif query.vote == "down":
        where.append(_has_vote(-1))
    elif query.vote == "none":
        where.append(~_has_vote(None))
    return where


async def question_log(conn: AsyncConnection, query: QuestionLogQuery) -> QuestionLogPage:
    where = _log_filters(query)
    total = (await conn.execute(sa.select(sa.func.count()).select_from(answers).where(*where))).scalar_one()
    if query.limit <= 0:
        return QuestionLogPage((), int(total))
    page = (
        sa.select(answers)
        .where(*where)
        .order_by(_a.created_at.desc(), _a.answer_id.desc())
        .limit(query.limit)
        .offset(max(query.offset, 0))
    )
    rows = (await conn.execute(page)).mappings().all()
    return QuestionLogPage(tuple(await _logged(conn, rows)), int(total))


async def logged_answer(conn: AsyncConnection, answer_id: str) -> LoggedAnswer | None:
    row = (await conn.execute(sa.select(answers).where(_a.answer_id == answer_id))).mappings().one_or_none()
    if row is None:
        return None
    return (await _logged(conn, [row]))[0]


async def review_queue(
    conn: AsyncConnection, space_id: str | None, exclude: Collection[str], limit: int
) -> list[LoggedAnswer]:
    if limit <= 0:
        return []
    last_down = (
        sa.select(_f.answer_id, sa.func.max(_f.updated_at).label("last_down"))
        .where(_f.value < 0)
        .group_by(_f.answer_id)
        .subquery()
    )
    query = sa.select(answers).join(last_down, last_down.c.answer_id == _a.answer_id)
    if space_id is not None:
        query = query.where(_a.space_id == space_id)
    if exclude:
        query = query.where(_a.answer_id.not_in(list(exclude)))
    query = query.order_by(last_down.c.last_down.desc(), _a.answer_id.desc()).limit(limit)
    rows = (await conn.execute(query)).mappings().all()
    return await _logged(conn, rows)


async def usage(conn: AsyncConnection, space_id: str | None, days: int, now: datetime) -> UsageReport:
    first, start = usage_window(days, now)
    in_window = [_a.created_at >= start]
    if space_id is not None:
        in_window.append(_a.space_id == space_id)
    up = sa.func.sum(sa.case((_f.value > 0, 1), else_=0))
    down = sa.func.sum(sa.case((_f.value < 0, 1), else_=0))
    tallies = (
        sa.select(_f.answer_id, up.label("up"), down.label("down"))
        .select_from(feedback.join(answers, _f.answer_id == _a.answer_id))
        .where(*in_window)
        .group_by(_f.answer_id)
    )
    votes = {r.answer_id: (int(r.up), int(r.down)) for r in (await conn.execute(tallies)).all()}
    rows = (
        await conn.execute(
            sa.select(_a.answer_id, _a.created_at, _a.declined, _a.cache_hit, _a.prefill_s).where(*in_window)
        )
    ).all()
    facts = [
        AnswerFacts(
            r.created_at, bool(r.declined), bool(r.cache_hit), r.prefill_s, *votes.get(r.answer_id, (0, 0))
        )
        for r in rows
    ]
    return summarise_usage(space_id, facts, first, days)
