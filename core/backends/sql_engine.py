"""Building the async SQLAlchemy engine for SQLite or PostgreSQL, with the settings that make
concurrent writers wait instead of failing.

SQLite: WAL journal (readers never block the writer; kept in the file once set), a busy timeout
(writers queue for the lock), foreign keys on; the last two set per connection because SQLite
forgets them on every new connection.
SQLAlchemy emits BEGIN itself (the sqlite3 driver's own transaction handling is switched off), so
a write transaction can start with ``BEGIN IMMEDIATE``: it takes the write lock up front and waits
for it under the busy timeout, where a deferred transaction that read first would fail at its first
write with "database is locked" as soon as another writer got there in between.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from core.errors import ConfigError

__all__ = ["WRITE", "build_engine", "safe_url"]

log = logging.getLogger(__name__)

# Execution option that marks a write transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: ignored).
WRITE = "ragbot_write"

SQLITE_BUSY_TIMEOUT_MS = 30_000
_WAL_ATTEMPTS = 100
_WAL_RETRY_S = 0.02


def safe_url(url: str | URL) -> str:
    """The URL with its password masked, for logs and error messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def _parse(url: str | URL) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise ConfigError(f"DATABASE_URL is not a database URL: {safe_url(url)}") from e
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"DATABASE_URL {safe_url(parsed)}: ragbot supports sqlite+aiosqlite:// and postgresql+psycopg://"
        )
    if parsed.get_backend_name() == "sqlite" and parsed.get_driver_name() != "aiosqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() != "psycopg":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _sqlite_file(url: URL) -> Path | None:
    db = url.database or ""
    if db in ("", ":memory:") or db.startswith("file:"):
        return None
    return Path(db)


def build_engine(url: str | URL, **engine_kwargs: Any) -> AsyncEngine:
    """An engine for ``url`` (a sqlite or postgresql URL; the async driver is filled in).

    Connects lazily; for SQLite the database file's parent directory is created here."""
    parsed = _parse(url)
    if parsed.get_backend_name() == "sqlite":
        path = _sqlite_file(parsed)
        if path is not None:
            path.expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(parsed, **engine_kwargs)
        _configure_sqlite(engine)
    else:
        engine_kwargs.setdefault("pool_pre_ping", True)
        engine = create_async_engine(parsed, **engine_kwargs)
    log.debug("sql engine url=%s", safe_url(parsed))
    return engine


def _use_wal(cursor: Any) -> None:
    """Put the database in WAL mode (it stays so: the mode is stored in the file). Switching needs
    an exclusive lock, and SQLite answers "database is locked" at once, busy timeout or not, when
    another connection holds the file: replicas opening a new database together race here. The
    loser finds WAL already set by the winner, or tries again shortly; this blocks the event loop
    for those few milliseconds, only while a new database is being created."""
    for attempt in range(_WAL_ATTEMPTS):
        try:
            cursor.execute("PRAGMA journal_mode")
            if str(cursor.fetchone()[0]).lower() == "wal":
                return
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or attempt == _WAL_ATTEMPTS - 1:
                raise
            time.sleep(_WAL_RETRY_S)


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # Take BEGIN away from the sqlite3 driver: SQLAlchemy emits it in _on_begin below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            _use_wal(cursor)
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")  # durable enough under WAL, much faster
        finally:
            cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE) else "BEGIN")
