"""Readers never see half an update.

An update of a document writes its new chunks under a new version, then flips the catalogue's
live version (one atomic row write), then deletes the old chunks. A search takes the live map
*before* it queries the indexes and keeps only chunks of those versions. For that to be safe the
old chunks must outlive every search that took its map before the flip: ``ReaderRegistry`` lets
the writer wait until those searches (in this process) have finished. Readers in other processes
(several replicas over a Qdrant server) are covered by ``grace_s``, a pause longer than a search.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["ReaderRegistry"]


class ReaderRegistry:
    def __init__(self, grace_s: float = 0.0) -> None:
        self._tickets = itertools.count(1)
        self._active: set[int] = set()
        self._changed = asyncio.Condition()
        self.grace_s = grace_s

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[None]:
        ticket = next(self._tickets)
        self._active.add(ticket)
        try:
            yield
        finally:
            self._active.discard(ticket)
            async with self._changed:
                self._changed.notify_all()

    async def drain(self) -> None:
        """Return once every search that started before this call has finished."""
        horizon = next(self._tickets)
        async with self._changed:
            await self._changed.wait_for(lambda: not any(t < horizon for t in self._active))
        if self.grace_s > 0:
            await asyncio.sleep(self.grace_s)
