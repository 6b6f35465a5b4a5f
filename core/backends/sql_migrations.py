"""Running the Alembic migrations in ``migrations/`` from Python (``ragbot db upgrade``, tests).

The app never creates tables itself: a database is brought to the current schema by ``upgrade``,
and ``SqlStore.start`` refuses a database that is behind (see ``ensure_current``).

``migrations/`` lives at the top of the repository, next to ``core/``; an editable install and the
Docker image (which copies ``migrations/``) both keep that layout. Elsewhere, run from the
repository root or pass ``script_location``.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import pool
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import SQLAlchemyError

from core.backends.sql_engine import WRITE, build_engine, safe_url
from core.errors import BackendError, ConfigError

__all__ = ["migrations_dir", "upgrade", "downgrade", "current", "head", "ensure_current"]

log = logging.getLogger(__name__)


def migrations_dir(script_location: str | Path | None = None) -> Path:
    """Where the Alembic scripts are: the given path, the repository's ``migrations/`` next to
    the ``core`` package, or ``./migrations``."""
    candidates = (
        [Path(script_location)]
        if script_location is not None
        else [Path(__file__).resolve().parents[2] / "migrations", Path.cwd() / "migrations"]
    )
    for path in candidates:
        if (path / "env.py").is_file():
            return path
    tried = ", ".join(str(p) for p in candidates)
    raise ConfigError(f"Alembic migrations not found (looked in {tried}); run from the repository root")


def _config(script_location: str | Path | None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir(script_location)))
    cfg.attributes["configure_logging"] = False  # the process has configured logging already
    return cfg


async def _with_connection(url: str | URL, fn: Any, *args: Any, write: bool = True) -> Any:
    """Run ``fn(connection, *args)`` (sync, Alembic's side) inside one transaction."""
    engine = build_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.execution_options(**{WRITE: write}).begin() as conn:
            return await conn.run_sync(fn, *args)
    except CommandError as e:
        raise ConfigError(f"migration failed on {safe_url(url)}: {e}") from e
    except SQLAlchemyError as e:
        raise BackendError(
            f"migration failed on {safe_url(url)}: {e.__class__.__name__}: {e}", code="store_unavailable"
        ) from e
    finally:
        await engine.dispose()


# Replicas starting together may all run ``upgrade``: on PostgreSQL they queue on this advisory
# lock (released at commit) and the later ones find the schema current. SQLite's BEGIN IMMEDIATE
# serialises them already.
_PG_MIGRATION_LOCK = 0x7261_6762_6F74  # "ragbot"


def _run_command(connection: Connection, cfg: Config, name: str, revision: str) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))
    cfg.attributes["connection"] = connection
    getattr(command, name)(cfg, revision)


async def upgrade(
    url: str | URL, revision: str = "head", *, script_location: str | Path | None = None
) -> None:
    """Migrate the database at ``url`` up to ``revision`` (creating the tables on a new database)."""
    cfg = _config(script_location)
    log.info("db upgrade url=%s revision=%s", safe_url(url), revision)
    await _with_connection(url, _run_command, cfg, "upgrade", revision)


async def downgrade(url: str | URL, revision: str, *, script_location: str | Path | None = None) -> None:
    """Migrate down to ``revision`` (``"base"``: drop every table the migrations made)."""
    cfg = _config(script_location)
    log.info("db downgrade url=%s revision=%s", safe_url(url), revision)
    await _with_connection(url, _run_command, cfg, "downgrade", revision)


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current(url: str | URL) -> str | None:
    """The revision the database is at; None for a database never migrated."""
    return await _with_connection(url, _current_revision, write=False)


async def head(*, script_location: str | Path | None = None) -> str:
    """The newest revision in ``migrations/``."""
    cfg = _config(script_location)
    script = await asyncio.to_thread(ScriptDirectory.from_config, cfg)
    revision = await asyncio.to_thread(script.get_current_head)
    if revision is None:
        raise ConfigError(f"no migrations in {migrations_dir(script_location)}")
    return revision


async def ensure_current(url: str | URL, *, script_location: str | Path | None = None) -> None:
    """Raise ``ConfigError`` unless the database is at the newest revision."""
    at, want = await current(url), await head(script_location=script_location)
    if at != want:
        state = "has no ragbot tables" if at is None else f"is at schema revision {at}"
        raise ConfigError(
            f"The database {safe_url(url)} {state}, this ragbot needs {want}: run `ragbot db upgrade`."
        )
