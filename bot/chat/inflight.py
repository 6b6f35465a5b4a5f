"""The answers being written right now, on any platform, so that shutdown can let them finish
and close the rest with a word (SHUTDOWN_GRACE_S, docs/configuration.md).

Slack acknowledges an event at once and answers in a task of its own (``spawn``); aiogram runs
each Telegram update in a task it made (``tracking``). Either way the task is known here, and
``drain`` treats them alike."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["InFlight", "LAST_WORD_S"]

log = logging.getLogger(__name__)

LAST_WORD_S = 10.0  # a cancelled answer gets this long to post its "restarting" note


class InFlight:
    def __init__(self, platform: str) -> None:
        self.platform = platform
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run ``coro`` as a tracked task; a failure that escapes it is logged with its traceback."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    @contextmanager
    def tracking(self) -> Iterator[asyncio.Task[Any] | None]:
        """Track the current task (one the platform library started) while the block runs."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            yield task
        finally:
            if task is not None:
                self._tasks.discard(task)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s.task_failed task=%s", self.platform, task.get_name(), exc_info=task.exception())

    async def drain(self, grace_s: float) -> None:
        """Wait up to ``grace_s`` for every task (but the caller's own); cancel the rest, each of
        which then closes its message with a "restarting" note within ``LAST_WORD_S``."""
        running = {t for t in self._tasks if t is not asyncio.current_task()}
        if not running:
            return
        log.info("%s.draining answers=%d grace_s=%.0f", self.platform, len(running), grace_s)
        _, pending = await asyncio.wait(running, timeout=grace_s)
        for task in pending:
            task.cancel()
        if pending:
            log.warning("%s.answers_cancelled count=%d", self.platform, len(pending))
            await asyncio.wait(pending, timeout=LAST_WORD_S)
