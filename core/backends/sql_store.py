"""The store ports (Catalog, AnswerLog, AskedQuestions, FeedbackStore, BindingStore, PinStore,
AdminStore, LeaseLock, VerifiedStore, RetentionStore, SourceStateStore, AnswerHistory, PromptStore)
over SQLAlchemy Core, on SQLite or PostgreSQL.

Every write that several processes may race on is one atomic statement (``INSERT ... ON CONFLICT
DO UPDATE``, ``UPDATE ... RETURNING``), so the database, not the application, decides who wins.
The answer and feedback queries live in ``sql_answers``, the console's read models in
``sql_history``; this module owns the connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.backends import sql_answers, sql_history, sql_rows, sql_verified
from core.backends.sql_engine import WRITE, build_engine, safe_url
from core.backends.sql_migrations import ensure_current, upgrade
from core.backends.sql_schema import (
    admins,
    answer_messages,
    answers,
    channel_bindings,
    documents,
    feedback,
    locks,
    pinned_sources,
    source_states,
    spaces,
    suggested_prompts,
    verified_answers,
)
from core.errors import BackendError, CoreError, InvalidInput, NotFound
from core.models import (
    Answer,
    Asker,
    Binding,
    ChunkVote,
    DocumentRecord,
    FeedbackStats,
    ForgetReport,
    LoggedAnswer,
    PinnedSource,
    QuestionLogPage,
    QuestionLogQuery,
    SourceState,
    SpaceSummary,
    Turn,
    UsageReport,
    VerifiedAnswer,
    Vote,
    VoteResult,
)

__all__ = ["SqlStore"]

log = logging.getLogger(__name__)

LIVE = "live"
PURGE_EVERY = 100  # acquire() calls between sweeps of expired leases


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SqlStore:
    """All the store ports in one SQL database. ``url``: ``Settings.sqlalchemy_url``.

    ``start()`` refuses a database whose schema is not at the newest migration (run
    ``ragbot db upgrade``), unless ``auto_migrate`` applies the pending migrations itself (the
    embedded default, so `make demo` needs no extra step); ``check_schema=False`` skips both. ``clock`` is the source of
    "now" for timestamps and lease expiry; replicas sharing a database need synchronised clocks."""

    def __init__(
        self,
        url: str,
        *,
        clock: Callable[[], datetime] = _utcnow,
        check_schema: bool = True,
        auto_migrate: bool = False,
    ) -> None:
        self._url = url
        self._auto_migrate = auto_migrate
        self._clock = clock
        self._check_schema = check_schema
        self._engine: AsyncEngine | None = None
        self._writer: AsyncEngine | None = None
        self._sqlite_writes: asyncio.Lock | None = None
        self._acquires = 0

    # Lifecycle

    async def start(self) -> None:
        if self._engine is not None:
            return
        engine = build_engine(self._url)
        try:
            if self._check_schema and self._auto_migrate:
                await upgrade(self._url)
            elif self._check_schema:
                await ensure_current(self._url)
            async with engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
        except SQLAlchemyError as e:
            await engine.dispose()
            raise self._translate(e) from e
        except BaseException:
            await engine.dispose()
            raise
        self._engine = engine
        self._writer = engine.execution_options(**{WRITE: True})
        self._sqlite_writes = asyncio.Lock() if engine.dialect.name == "sqlite" else None
        log.info("sql store started url=%s dialect=%s", safe_url(self._url), engine.dialect.name)

    async def aclose(self) -> None:
        engine, self._engine, self._writer = self._engine, None, None
        if engine is not None:
            await engine.dispose()

    @property
    def dialect(self) -> str:
        return self._started()[0].dialect.name

    def _started(self) -> tuple[AsyncEngine, AsyncEngine]:
        if self._engine is None or self._writer is None:
            raise BackendError("the SQL store is not started: call start() first", code="store_unavailable")
        return self._engine, self._writer

    def _translate(self, e: SQLAlchemyError) -> CoreError:
        cause = getattr(e, "orig", None) or e
        if isinstance(cause, ValueError):  # refused while binding a parameter (a naive datetime)
            return InvalidInput(str(cause))
        first_line = (str(cause).strip().splitlines() or [""])[0]
        return BackendError(
            f"The database ({safe_url(self._url)}) failed: {type(cause).__name__}: {first_line}",
            code="store_unavailable",
        )

    @asynccontextmanager
    async def _tx(self, *, write: bool) -> AsyncIterator[AsyncConnection]:
        """One transaction. Write transactions take SQLite's write lock up front (BEGIN IMMEDIATE)."""
        reader, writer = self._started()
        try:
            if write and self._sqlite_writes is not None:
                # SQLite has one writer at a time anyway. Queueing our own writers here is fair and
                # cheap; left to SQLite's busy handler they poll with sleeps, and throughput falls.
                async with self._sqlite_writes, writer.begin() as conn:
                    yield conn
            else:
                async with (writer if write else reader).begin() as conn:
                    yield conn
        except SQLAlchemyError as e:
            raise self._translate(e) from e

    def _insert(self, table: sa.Table) -> Any:
        """The dialect's INSERT, which has ``on_conflict_do_update`` / ``on_conflict_do_nothing``."""
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    async def _ensure_space(self, conn: AsyncConnection, space_id: str) -> None:
        stmt = self._insert(spaces).values(space_id=space_id, created_at=self._clock(), generation=0)
        await conn.execute(stmt.on_conflict_do_nothing(index_elements=[spaces.c.space_id]))

    # Catalog

    async def live_documents(self, space_id: str) -> dict[str, DocumentRecord]:
        query = sa.select(documents).where(documents.c.space_id == space_id, documents.c.status == LIVE)
        async with self._tx(write=False) as conn:
            rows = (await conn.execute(query)).mappings().all()
        return {row["doc_id"]: sql_rows.document_record(row) for row in rows}

    async def set_live(self, record: DocumentRecord) -> None:
        values = {
            "source": record.source,
            "title": record.title,
            "version": record.version,
            "doc_type": record.doc_type,
            "lang": record.lang,
            "chunks": record.chunks,
            "ingested_at": record.ingested_at,
            "status": LIVE,
            "last_error": None,
        }
        stmt = self._insert(documents).values(space_id=record.space_id, doc_id=record.doc_id, **values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[documents.c.space_id, documents.c.doc_id], set_=values
        )
        async with self._tx(write=True) as conn:
            await self._ensure_space(conn, record.space_id)
            await conn.execute(stmt)
            await conn.execute(_bump_generation(record.space_id))

    async def remove(self, space_id: str, doc_id: str) -> None:
        stmt = sa.delete(documents).where(documents.c.space_id == space_id, documents.c.doc_id == doc_id)
        async with self._tx(write=True) as conn:
            if (await conn.execute(stmt)).rowcount:
                await conn.execute(_bump_generation(space_id))

    async def spaces(self) -> list[SpaceSummary]:
        d = documents.c
        query = (
            sa.select(d.space_id, sa.func.count(), sa.func.sum(d.chunks), sa.func.max(d.ingested_at))
            .where(d.status == LIVE)
            .group_by(d.space_id)
        )
        async with self._tx(write=False) as conn:
            rows = (await conn.execute(query)).all()
        # Sorted here rather than by ORDER BY: PostgreSQL collations do not sort like Python does.
        return sorted(
            (SpaceSummary(space, int(n), int(chunks or 0), last) for space, n, chunks, last in rows),
            key=lambda s: s.space_id,
        )

    async def generation(self, space_id: str) -> int:
        query = sa.select(spaces.c.generation).where(spaces.c.space_id == space_id)
        async with self._tx(write=False) as conn:
            value = (await conn.execute(query)).scalar_one_or_none()
        return int(value or 0)

    # AnswerLog

    async def record_answer(self, answer: Answer, asker: Asker | None) -> None:
        """Recording the same answer id twice keeps the first record (a retry is harmless)."""
        row = sql_answers.answer_row(answer, asker, created_at=self._clock())
        stmt = self._insert(answers).values(**row).on_conflict_do_nothing()
        async with self._tx(write=True) as conn:
            await conn.execute(stmt)

    async def get_answer(self, answer_id: str) -> Answer | None:
        async with self._tx(write=False) as conn:
            return await sql_answers.get_answer(conn, answer_id)

    async def thread_turns(
        self, platform: str, channel_id: str, thread_id: str, limit: int = 6
    ) -> list[Turn]:
        """The last ``limit`` answers of the thread, oldest first, each as a question and an answer turn."""
        async with self._tx(write=False) as conn:
            return await sql_answers.thread_turns(conn, platform, channel_id, thread_id, limit)

    async def link_message(self, answer_id: str, message_id: str) -> None:
        """Remember a message (in the answer's platform and channel) that shows the answer."""
        stmt = sql_answers.message_link_upsert(
            self._insert(answer_messages), answer_id, message_id, at=self._clock()
        )
        async with self._tx(write=True) as conn:
            linked = (await conn.execute(stmt)).first()
        if linked is None:
            raise NotFound(f"There is no answer {answer_id!r} to link message {message_id!r} to.")

    async def thread_of_message(self, platform: str, channel_id: str, message_id: str) -> str | None:
        """The thread id of the answer ``message_id`` shows ("" if it was not in a thread); None
        when the message shows no answer of the bot's."""
        async with self._tx(write=False) as conn:
            return await sql_answers.thread_of_message(conn, platform, channel_id, message_id)

    async def answer_of_message(self, platform: str, channel_id: str, message_id: str) -> str | None:
        async with self._tx(write=False) as conn:
            return await sql_answers.answer_of_message(conn, platform, channel_id, message_id)

    # FeedbackStore

    async def record_vote(self, vote: Vote) -> VoteResult:
        if vote.value not in (1, -1):
            raise InvalidInput(f"a vote is +1 or -1, not {vote.value}")
        stmt = sql_answers.vote_upsert(self._insert(feedback), vote, at=self._clock())
        async with self._tx(write=True) as conn:
            row = (await conn.execute(stmt)).one_or_none()
        if row is None:  # the insert selects from answers: no row means no such answer
            raise NotFound(f"There is no answer {vote.answer_id!r} to vote on.")
        previous = row.previous_value
        return VoteResult(vote, changed=previous is not None and previous != vote.value, previous=previous)

    async def feedback_stats(self, space_id: str | None = None, worst: int = 5) -> FeedbackStats:
        async with self._tx(write=False) as conn:
            return await sql_answers.feedback_stats(conn, space_id, worst)

    async def chunk_votes(self, space_id: str) -> list[ChunkVote]:
        async with self._tx(write=False) as conn:
            return await sql_answers.chunk_votes(conn, space_id)

    # BindingStore

    async def bind(self, binding: Binding) -> None:
        now = self._clock()
        changes = {
            "space_id": binding.space_id,
            "thread_followups": binding.thread_followups,
            "mode": binding.mode,
            "visibility": binding.visibility,
            "doc_type": binding.doc_type,
            "lang": binding.lang,
            "updated_at": now,
        }
        stmt = self._insert(channel_bindings).values(
            platform=binding.platform,
            team_id=binding.team_id,
            channel_id=binding.channel_id,
            created_at=now,
            **changes,
        )
        b = channel_bindings.c
        stmt = stmt.on_conflict_do_update(index_elements=[b.platform, b.team_id, b.channel_id], set_=changes)
        async with self._tx(write=True) as conn:
            await self._ensure_space(conn, binding.space_id)
            await conn.execute(stmt)

    async def unbind(self, platform: str, channel_id: str, team_id: str = "") -> bool:
        stmt = sa.delete(channel_bindings).where(*_binding_key(platform, channel_id, team_id))
        async with self._tx(write=True) as conn:
            return bool((await conn.execute(stmt)).rowcount)

    async def binding_for(self, platform: str, channel_id: str, team_id: str = "") -> Binding | None:
        query = sa.select(channel_bindings).where(*_binding_key(platform, channel_id, team_id))
        async with self._tx(write=False) as conn:
            row = (await conn.execute(query)).mappings().one_or_none()
        return sql_rows.binding(row) if row is not None else None

    async def bindings(self, space_id: str | None = None) -> list[Binding]:
        b = channel_bindings.c
        query = sa.select(channel_bindings)
        if space_id is not None:
            query = query.where(b.space_id == space_id)
        async with self._tx(write=False) as conn:
            rows = (await conn.execute(query)).mappings().all()
        return sorted(
            (sql_rows.binding(row) for row in rows), key=lambda x: (x.platform, x.team_id, x.channel_id)
        )

    # AskedQuestions

    async def asked_questions(self, space_id: str, limit: int = 50) -> list[tuple[str, int]]:
        async with self._tx(write=False) as conn:
            return await sql_answers.asked_questions(conn, space_id, limit)

    # PromptStore

    async def set_suggested_prompts(self, space_id: str, prompts: Sequence[str]) -> None:
        now = self._clock()
        async with self._tx(write=True) as conn:
            if prompts:
                await self._ensure_space(conn, space_id)
            # two admins replacing the prompts at once: the second waits for the first (PostgreSQL;
            # SQLite lets one writer in at a time anyway), so delete-then-insert cannot collide
            await conn.execute(
                sa.select(spaces.c.space_id).where(spaces.c.space_id == space_id).with_for_update()
            )
            await conn.execute(sa.delete(suggested_prompts).where(suggested_prompts.c.space_id == space_id))
            if prompts:
                await conn.execute(
                    sa.insert(suggested_prompts),
                    [
                        {"space_id": space_id, "position": i, "text": text, "created_at": now}
                        for i, text in enumerate(prompts)
                    ],
                )

    async def suggested_prompts(self, space_id: str) -> list[str]:
        p = suggested_prompts.c
        query = sa.select(p.text).where(p.space_id == space_id).order_by(p.position)
        async with self._tx(write=False) as conn:
            return list((await conn.execute(query)).scalars().all())

    # PinStore

    async def add_pin(self, pin: PinnedSource) -> PinnedSource:
        """Pin a location; pinning it again changes its schedule and keeps its run history."""
        _check_schedule(pin)
        changes = {
            "every_s": pin.every_s,
            "cron": pin.cron,
            "doc_type": pin.doc_type,
            "pinned_by": pin.pinned_by,
        }
        stmt = self._insert(pinned_sources).values(
            space_id=pin.space_id,
            location=pin.location,
            created_at=self._clock(),
            consecutive_failures=0,
            **changes,
        )
        p = pinned_sources.c
        stmt = stmt.on_conflict_do_update(index_elements=[p.space_id, p.location], set_=changes)
        async with self._tx(write=True) as conn:
            await self._ensure_space(conn, pin.space_id)
            row = (await conn.execute(stmt.returning(pinned_sources))).mappings().one()
        return sql_rows.pinned_source(row)

    async def remove_pin(self, space_id: str, location: str) -> bool:
        p = pinned_sources.c
        stmt = sa.delete(pinned_sources).where(p.space_id == space_id, p.location == location)
        async with self._tx(write=True) as conn:
            return bool((await conn.execute(stmt)).rowcount)

    async def pins(self, space_id: str | None = None) -> list[PinnedSource]:
        query = sa.select(pinned_sources).order_by(pinned_sources.c.pin_id)
        if space_id is not None:
            query = query.where(pinned_sources.c.space_id == space_id)
        async with self._tx(write=False) as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [sql_rows.pinned_source(row) for row in rows]

    async def record_pin_run(
        self, pin_id: int, *, ok: bool, at: datetime, error: str | None = None
    ) -> PinnedSource:
        p = pinned_sources.c
        if ok:
            changes: dict[str, Any] = {"last_success_at": at, "consecutive_failures": 0, "last_error": None}
        else:
            changes = {
                "last_failure_at": at,
                "consecutive_failures": p.consecutive_failures + 1,
                "last_error": error,
            }
        stmt = sa.update(pinned_sources).where(p.pin_id == pin_id).values(**changes).returning(pinned_sources)
        async with self._tx(write=True) as conn:
            row = (await conn.execute(stmt)).mappings().one_or_none()
        if row is None:
            raise NotFound(f"There is no pinned source #{pin_id}.")
        return sql_rows.pinned_source(row)

    # AdminStore

    async def add_admin(self, platform: str, user_id: str) -> None:
        stmt = self._insert(admins).values(platform=platform, user_id=user_id, created_at=self._clock())
        async with self._tx(write=True) as conn:
            await conn.execute(stmt.on_conflict_do_nothing())

    async def remove_admin(self, platform: str, user_id: str) -> bool:
        stmt = sa.delete(admins).where(admins.c.platform == platform, admins.c.user_id == user_id)
        async with self._tx(write=True) as conn:
            return bool((await conn.execute(stmt)).rowcount)

    async def is_admin(self, platform: str, user_id: str) -> bool:
        query = sa.select(sa.literal(1)).where(admins.c.platform == platform, admins.c.user_id == user_id)
        async with self._tx(write=False) as conn:
            return (await conn.execute(query)).first() is not None

    # LeaseLock

    async def acquire(self, name: str, owner: str, ttl_s: float) -> bool:
        """Take the lease if it is free, expired, or already ours (then it is renewed)."""
        if ttl_s <= 0:
            raise InvalidInput(f"a lease needs a positive ttl, not {ttl_s}")
        now = self._clock()
        stmt = self._insert(locks).values(name=name, owner=owner, expires_at=now + timedelta(seconds=ttl_s))
        # One statement: the database serialises racing acquirers, and the WHERE decides takeover.
        stmt = stmt.on_conflict_do_update(
            index_elements=[locks.c.name],
            set_={"owner": stmt.excluded.owner, "expires_at": stmt.excluded.expires_at},
            where=sa.or_(locks.c.owner == stmt.excluded.owner, locks.c.expires_at <= now),
        ).returning(locks.c.owner)
        self._acquires += 1
        async with self._tx(write=True) as conn:
            if self._acquires % PURGE_EVERY == 0:
                # Leases also serve as one-shot claims (event dedupe), one row each: sweep the
                # expired ones now and then. An expired lease is free anyway, so nothing changes.
                await conn.execute(sa.delete(locks).where(locks.c.expires_at <= now))
            won = (await conn.execute(stmt)).first() is not None
        log.debug("lease acquire name=%s owner=%s won=%s", name, owner, won)
        return won

    async def release(self, name: str, owner: str) -> None:
        stmt = sa.delete(locks).where(locks.c.name == name, locks.c.owner == owner)
        async with self._tx(write=True) as conn:
            await conn.execute(stmt)

    # AnswerHistory

    async def question_log(self, query: QuestionLogQuery) -> QuestionLogPage:
        async with self._tx(write=False) as conn:
            return await sql_history.question_log(conn, query)

    async def logged_answer(self, answer_id: str) -> LoggedAnswer | None:
        async with self._tx(write=False) as conn:
            return await sql_history.logged_answer(conn, answer_id)

    async def review_queue(
        self, space_id: str | None = None, *, exclude: Collection[str] = (), limit: int = 50
    ) -> list[LoggedAnswer]:
        async with self._tx(write=False) as conn:
            return await sql_history.review_queue(conn, space_id, exclude, limit)

    async def usage(self, space_id: str | None = None, days: int = 30) -> UsageReport:
        async with self._tx(write=False) as conn:
            return await sql_history.usage(conn, space_id, days, self._clock())

    # VerifiedStore

    async def save_verified(self, verified: VerifiedAnswer) -> VerifiedAnswer:
        stmt = sql_verified.verified_upsert(self._insert(verified_answers), verified)
        async with self._tx(write=True) as conn:
            await self._ensure_space(conn, verified.space_id)
            row = (await conn.execute(stmt)).mappings().one()
        return sql_verified.to_verified(row)

    async def get_verified(self, verified_id: str) -> VerifiedAnswer | None:
        async with self._tx(write=False) as conn:
            return await sql_verified.get_verified(conn, verified_id)

    async def verified_answers(self, space_id: str | None = None) -> list[VerifiedAnswer]:
        async with self._tx(write=False) as conn:
            return await sql_verified.list_verified(conn, space_id)

    async def remove_verified(self, verified_id: str) -> bool:
        stmt = sa.delete(verified_answers).where(verified_answers.c.verified_id == verified_id)
        async with self._tx(write=True) as conn:
            return bool((await conn.execute(stmt)).rowcount)

    # RetentionStore

    async def forget_user(self, platform: str, user_id: str) -> ForgetReport:
        async with self._tx(write=True) as conn:
            return await sql_answers.forget_user(conn, platform, user_id)

    async def purge_answers(self, before: datetime) -> int:
        async with self._tx(write=True) as conn:
            return await sql_answers.purge_answers(conn, before)

    # SourceStateStore

    async def source_state(self, space_id: str, location: str) -> SourceState | None:
        s = source_states.c
        query = sa.select(source_states).where(s.space_id == space_id, s.location == location)
        async with self._tx(write=False) as conn:
            row = (await conn.execute(query)).mappings().one_or_none()
        return sql_rows.source_state(row) if row is not None else None

    async def save_source_state(self, state: SourceState) -> None:
        values = {
            "kind": state.kind,
            "last_run_at": state.last_run_at,
            "last_success_at": state.last_success_at,
            "last_error": state.last_error,
            "documents": state.documents,
            "skipped": state.skipped,
            "cursor": dict(state.cursor),
        }
        stmt = self._insert(source_states).values(space_id=state.space_id, location=state.location, **values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[source_states.c.space_id, source_states.c.location], set_=values
        )
        async with self._tx(write=True) as conn:
            await self._ensure_space(conn, state.space_id)
            await conn.execute(stmt)

    async def source_states(self, space_id: str | None = None) -> list[SourceState]:
        query = sa.select(source_states)
        if space_id is not None:
            query = query.where(source_states.c.space_id == space_id)
        async with self._tx(write=False) as conn:
            rows = (await conn.execute(query)).mappings().all()
        # Sorted here rather than by ORDER BY: PostgreSQL collations do not sort like Python does.
        return sorted((sql_rows.source_state(row) for row in rows), key=lambda x: (x.space_id, x.location))

    async def remove_source_state(self, space_id: str, location: str) -> bool:
        s = source_states.c
        stmt = sa.delete(source_states).where(s.space_id == space_id, s.location == location)
        async with self._tx(write=True) as conn:
            return bool((await conn.execute(stmt)).rowcount)


def _bump_generation(space_id: str) -> sa.Update:
    return sa.update(spaces).where(spaces.c.space_id == space_id).values(generation=spaces.c.generation + 1)


def _binding_key(platform: str, channel_id: str, team_id: str) -> tuple[sa.ColumnElement[bool], ...]:
    b = channel_bindings.c
    return (b.platform == platform, b.team_id == team_id, b.channel_id == channel_id)


def _check_schedule(pin: PinnedSource) -> None:
    if pin.every_s is None and not pin.cron:
        raise InvalidInput(f"pin {pin.location!r} needs a schedule: an interval or a cron expression")
    if pin.every_s is not None and pin.every_s <= 0:
        raise InvalidInput(f"pin {pin.location!r}: the interval must be positive, not {pin.every_s}s")
