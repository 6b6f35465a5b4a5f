"""Holding a database lease for as long as some work runs: acquire, renew in the background,
release at the end. A crashed holder's lease simply expires after ``ttl_s``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator

from core.errors import Busy
from core.ports import LeaseLock

__all__ = ["held_lease"]

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def held_lease(
    locks: LeaseLock, name: str, *, ttl_s: float = 60.0, busy_message: str
) -> AsyncIterator[str]:
    owner = uuid.uuid4().hex
    if not await locks.acquire(name, owner, ttl_s):
        raise Busy(busy_message)

    async def renew() -> None:
        while True:
            await asyncio.sleep(ttl_s / 3)
            if not await locks.acquire(name, owner, ttl_s):
                log.error("lease.lost name=%s", name)  # another holder took it over after an expiry
                return

    renewer = asyncio.create_task(renew(), name=f"lease:{name}")
    try:
        yield owner
    finally:
        renewer.cancel()
        await asyncio.gather(renewer, return_exceptions=True)
        await locks.release(name, owner)
