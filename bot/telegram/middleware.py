"""The gate every update passes: no update is handled twice, the tasks handling updates are
known (so shutdown can wait for them or close them with a word), and nothing new starts
while the adapter is closing.

Telegram re-delivers an update when a webhook answer is slow or fails, and after a restart in
polling mode; the in-process set catches those. With a webhook served by several replicas, the
update is also claimed through the store's lease lock, so exactly one replica handles it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update

from bot.telegram.context import BotContext, ui_lang
from bot.telegram.texts import tg_text
from core.ports import LeaseLock

__all__ = ["RecentIds", "UpdateGate", "CLAIM_TTL_S"]

log = logging.getLogger(__name__)

CLAIM_TTL_S = 3600.0  # Telegram gives up re-delivering long before an hour


class RecentIds:
    """Ids seen in the last ``ttl_s`` seconds (bounded): ``add`` is False for a repeat."""

    def __init__(
        self, ttl_s: float = CLAIM_TTL_S, max_size: int = 100_000, clock: Callable[[], float] = time.monotonic
    ):
        self.ttl_s = ttl_s
        self.max_size = max_size
        self._clock = clock
        self._seen: OrderedDict[int, float] = OrderedDict()

    def add(self, key: int) -> bool:
        now = self._clock()
        while self._seen:
            oldest, at = next(iter(self._seen.items()))
            if now - at < self.ttl_s and len(self._seen) < self.max_size:
                break
            del self._seen[oldest]
        if key in self._seen:
            return False
        self._seen[key] = now
        return True


class UpdateGate(BaseMiddleware):
    def __init__(self, ctx: BotContext, *, lock: LeaseLock | None = None) -> None:
        self.ctx = ctx
        self.lock = lock  # set for webhooks: replicas claim each update in the store
        self.owner = uuid.uuid4().hex
        self.recent = RecentIds()
        self.tasks: set[asyncio.Task] = set()
        self.closing = False

    async def _claim(self, update_id: int) -> bool:
        if not self.recent.add(update_id):
            return False
        if self.lock is None:
            return True
        try:
            return await self.lock.acquire(
                f"telegram:update:{update_id}", owner=self.owner, ttl_s=CLAIM_TTL_S
            )
        except Exception:  # a store hiccup must not make the bot deaf: answer, at worst twice
            log.warning("telegram.claim_failed update=%s", update_id, exc_info=True)
            return True

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if not isinstance(event, Update):
            return await handler(event, data)
        if self.closing:
            log.info("telegram.update_refused update=%s: closing", event.update_id)
            return None
        if not await self._claim(event.update_id):
            log.info("telegram.duplicate_update update=%s", event.update_id)
            return None
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        try:
            return await handler(event, data)
        except asyncio.CancelledError:
            if self.closing and task not in self.ctx.answering:  # answers close themselves
                await asyncio.shield(self._tell_restarting(event))
            raise
        finally:
            if task is not None:
                self.tasks.discard(task)
                self.ctx.answering.discard(task)

    async def _tell_restarting(self, update: Update) -> None:
        message = update.message
        if message is None:
            return
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                text = tg_text(ui_lang(message.from_user), "restarting")
                await self.ctx.outbox.send(message.chat.id, text, reply_to=message.message_id)
