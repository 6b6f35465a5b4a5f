"""Fixtures shared across the test suite."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A SQLAlchemy URL of a new, empty PostgreSQL database, dropped after the test.

    The server comes from RAGBOT_TEST_POSTGRES_URL (``export "$(.ci/start-postgres.sh)"``); its role
    needs CREATEDB. Without it the test is skipped, loudly, unless RAGBOT_REQUIRE_POSTGRES=1 (CI),
    where it fails: PostgreSQL tests are never skipped silently there."""
    base = os.environ.get("RAGBOT_TEST_POSTGRES_URL")
    if not base:
        why = 'RAGBOT_TEST_POSTGRES_URL is not set; run: export "$(.ci/start-postgres.sh)"'
        if os.environ.get("RAGBOT_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required (RAGBOT_REQUIRE_POSTGRES=1) but {why}")
        pytest.skip(f"!!! POSTGRESQL TEST NOT RUN: {why}")
    server = make_url(base)
    admin = server.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"ragbot_t_{uuid.uuid4().hex[:16]}"
    async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as conn:
        await conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as conn:
            await conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
