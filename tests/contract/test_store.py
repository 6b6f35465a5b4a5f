"""The store contract over the in-memory reference, SQLite (a file in tmp) and PostgreSQL, plus
what only the SQL backend promises: several replicas on one database, the schema check at start,
SQLite's connection settings, readable errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.backends.sql_engine import build_engine
from core.backends.sql_migrations import upgrade
from core.backends.sql_store import SqlStore
from core.errors import BackendError, ConfigError
from core.models import Vote
from core.testing.contracts.store import ManualClock, StoreContract, make_answer
from core.testing.memory_store import MemoryStore


class TestMemoryStore(StoreContract):
    @pytest.fixture
    async def store(self, clock: ManualClock) -> AsyncIterator[MemoryStore]:
        s = MemoryStore(clock=clock)
        await s.start()
        yield s
        await s.aclose()


async def _migrated_store(url: str, clock: ManualClock) -> SqlStore:
    await upgrade(url)
    s = SqlStore(url, clock=clock)
    await s.start()
    return s


class TestSqliteStore(StoreContract):
    @pytest.fixture
    async def store(self, tmp_path: Path, clock: ManualClock) -> AsyncIterator[SqlStore]:
        s = await _migrated_store(f"sqlite+aiosqlite:///{tmp_path / 'data' / 'ragbot.db'}", clock)
        yield s
        await s.aclose()


@pytest.mark.postgres
class TestPostgresStore(StoreContract):
    @pytest.fixture
    async def store(self, postgres_url: str, clock: ManualClock) -> AsyncIterator[SqlStore]:
        s = await _migrated_store(postgres_url, clock)
        yield s
        await s.aclose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return request.getfixturevalue("postgres_url")
    return f"sqlite+aiosqlite:///{tmp_path / 'ragbot.db'}"


async def test_replicas_sharing_a_database_agree_on_one_lease_holder(sql_url: str) -> None:
    clock = ManualClock()
    await upgrade(sql_url)
    replicas = [SqlStore(sql_url, clock=clock) for _ in range(3)]
    await asyncio.gather(*(r.start() for r in replicas))
    try:
        attempts = [
            r.acquire("reingest", f"replica-{i}-{k}", ttl_s=60)
            for i, r in enumerate(replicas)
            for k in range(10)
        ]
        assert sum(await asyncio.gather(*attempts)) == 1
        clock.advance(60)
        attempts = [
            r.acquire("reingest", f"late-{i}-{k}", ttl_s=60)
            for i, r in enumerate(replicas)
            for k in range(10)
        ]
        assert sum(await asyncio.gather(*attempts)) == 1
    finally:
        await asyncio.gather(*(r.aclose() for r in replicas))


async def test_replicas_voting_at_once_end_in_exact_counts(sql_url: str) -> None:
    await upgrade(sql_url)
    replicas = [SqlStore(sql_url) for _ in range(2)]
    await asyncio.gather(*(r.start() for r in replicas))
    try:
        await replicas[0].record_answer(make_answer("ans-1"), None)
        votes = [Vote("ans-1", f"user-{i}", 1 if i % 4 else -1) for i in range(80)]
        await asyncio.gather(*(replicas[i % 2].record_vote(v) for i, v in enumerate(votes)))
        stats = await replicas[1].feedback_stats()
        assert (stats.up, stats.down) == (60, 20)
    finally:
        await asyncio.gather(*(r.aclose() for r in replicas))


async def test_expired_leases_are_swept(sql_url: str) -> None:
    clock = ManualClock()
    store = await _migrated_store(sql_url, clock)
    try:
        for i in range(250):  # one-shot claims, as event dedupe makes them
            assert await store.acquire(f"event:{i}", "replica-a", ttl_s=5)
            clock.advance(1)
        engine = build_engine(sql_url)
        try:
            async with engine.connect() as conn:
                left = (await conn.execute(sa.text("SELECT count(*) FROM locks"))).scalar_one()
        finally:
            await engine.dispose()
        assert left < 60, f"{left} lease rows left"
        assert await store.acquire("event:249", "replica-b", ttl_s=5) is False  # still held
    finally:
        await store.aclose()


async def test_start_refuses_a_database_that_is_not_migrated(sql_url: str) -> None:
    store = SqlStore(sql_url)
    with pytest.raises(ConfigError, match="ragbot db upgrade"):
        await store.start()


async def test_a_closed_store_says_so(tmp_path: Path) -> None:
    store = await _migrated_store(f"sqlite+aiosqlite:///{tmp_path / 'ragbot.db'}", ManualClock())
    await store.aclose()
    with pytest.raises(BackendError, match="not started"):
        await store.generation("eng")


async def test_an_unreachable_server_is_a_backend_error_without_the_password() -> None:
    store = SqlStore("postgresql+psycopg://ragbot:s3cret-pw@127.0.0.1:1/ragbot", check_schema=False)
    with pytest.raises(BackendError) as caught:
        await store.start()
    assert caught.value.code == "store_unavailable"
    assert "s3cret-pw" not in str(caught.value)


async def test_sqlite_connections_wait_for_the_lock_and_enforce_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "parent" / "ragbot.db"
    engine = build_engine(f"sqlite:///{path}")  # the async driver is filled in
    try:
        async with engine.connect() as conn:
            pragma = {
                name: (await conn.execute(sa.text(f"PRAGMA {name}"))).scalar()
                for name in ("journal_mode", "busy_timeout", "foreign_keys")
            }
        assert pragma == {"journal_mode": "wal", "busy_timeout": 30_000, "foreign_keys": 1}
        assert path.is_file()
    finally:
        await engine.dispose()


async def test_a_vote_for_a_missing_answer_cannot_slip_past_the_foreign_key(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ragbot.db'}"
    await upgrade(url)
    engine = build_engine(url)
    try:
        with pytest.raises(sa.exc.IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(
                    sa.text(
                        "INSERT INTO feedback (answer_id, user_id, value, platform, created_at, updated_at)"
                        " VALUES ('missing', 'U1', 1, '', '2025-01-01', '2025-01-01')"
                    )
                )
    finally:
        await engine.dispose()
