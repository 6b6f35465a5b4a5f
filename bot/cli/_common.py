"""What the command modules share: a started service for the length of a command."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tqdm import tqdm

from bot.bootstrap import build_service
from bot.settings import Settings
from core.service import RagService

__all__ = ["running_service", "ProgressBar"]


@asynccontextmanager
async def running_service(
    settings: Settings, *, chat: bool = False, store_only: bool = False
) -> AsyncIterator[RagService]:
    """A started service for one command. ``store_only``: the database alone, for commands that
    read or change only what it keeps (bindings, admins, votes, status): they run beside a
    ``ragbot serve`` that holds the embedded indexes, and start in a fraction of the time."""
    service = build_service(settings)
    try:
        if store_only:
            await service.open()
        else:
            await service.start(chat=chat)
        yield service
    finally:
        await service.aclose()


class ProgressBar:
    """A pipeline progress callback drawing one bar per stage on stderr (only on a terminal)."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._bars: dict[str, tqdm] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        bar = self._bars.get(stage)
        if bar is None:
            bar = self._bars[stage] = tqdm(total=total, desc=stage, unit="doc", file=sys.stderr, leave=False)
        bar.total = total
        bar.n = done
        bar.refresh()

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()
