"""The Alembic migrations on SQLite and PostgreSQL: up to head, down to base, up again, and the
migrated schema equals the SQLAlchemy metadata the store queries with."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext

from core.backends.sql_engine import build_engine
from core.backends.sql_migrations import current, downgrade, head, migrations_dir, upgrade
from core.backends.sql_schema import metadata

TABLES = {t.name for t in metadata.sorted_tables}
REPO_MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return request.getfixturevalue("postgres_url")
    return f"sqlite+aiosqlite:///{tmp_path / 'ragbot.db'}"


def _schema_report(conn: sa.Connection) -> dict[str, Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
    return {"tables": set(sa.inspect(conn).get_table_names()), "diff": compare_metadata(context, metadata)}


async def _schema(url: str) -> dict[str, Any]:
    engine = build_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_schema_report)
    finally:
        await engine.dispose()


async def test_up_down_and_up_again_matches_the_metadata(db_url: str) -> None:
    assert await current(db_url) is None

    await upgrade(db_url)
    assert await current(db_url) == await head()
    migrated = await _schema(db_url)
    assert migrated["tables"] == TABLES | {"alembic_version"}
    assert migrated["diff"] == [], "migrations and core/backends/sql_schema.py disagree"

    await downgrade(db_url, "base")
    assert await current(db_url) is None
    assert (await _schema(db_url))["tables"] <= {"alembic_version"}

    await upgrade(db_url)
    again = await _schema(db_url)
    assert again["tables"] == TABLES | {"alembic_version"}
    assert again["diff"] == []


async def test_upgrade_is_idempotent(db_url: str) -> None:
    await upgrade(db_url)
    await upgrade(db_url)
    assert await current(db_url) == await head()


async def test_replicas_upgrading_at_once_all_succeed(db_url: str) -> None:
    await asyncio.gather(*(upgrade(db_url) for _ in range(4)))
    assert await current(db_url) == await head()
    assert (await _schema(db_url))["diff"] == []


async def test_migrations_are_found_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert migrations_dir() == REPO_MIGRATIONS
    await upgrade(f"sqlite+aiosqlite:///{tmp_path / 'ragbot.db'}")


async def test_env_py_runs_on_its_own_as_the_alembic_command_does(tmp_path: Path) -> None:
    """Without a connection handed over, env.py builds its engine from ``sqlalchemy.url``."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("sqlalchemy.url", url)
    await asyncio.to_thread(command.upgrade, cfg, "head")  # env.py runs its own event loop
    assert await current(url) == await head()
    assert (await _schema(url))["diff"] == []
