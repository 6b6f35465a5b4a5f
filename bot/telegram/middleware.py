"""The gate every update passes: no update is handled twice (``bot.chat.claims``), the tasks
handling updates are known (``bot.chat.inflight``, so shutdown can wait for them or close them
with a word), and nothing new starts while the adapter is closing.

Telegram re-delivers an update when a webhook answer is slow or fails, and after a restart in
polling mode. Polling runs in one process, so the claim stays in it; with a webhook served by
several replicas the update is also claimed in the database, so exactly one replica handles it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update

from bot.chat.claims import EventClaims
from bot.chat.inflight import InFlight
from bot.telegram.context import BotContext, ui_lang
from bot.telegram.texts import tg_text

__all__ = ["UpdateGate"]

log = logging.getLogger(__name__)


class UpdateGate(BaseMiddleware):
    def __init__(self, ctx: BotContext, *, claims: EventClaims, inflight: InFlight) -> None:
        self.ctx = ctx
        self.claims = claims
        self.inflight = inflight
        self.closing = False

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
        if not await self.claims.claim(str(event.update_id)):
            log.info("telegram.duplicate_update update=%s", event.update_id)
            return None
        with self.inflight.tracking() as task:
            try:
                return await handler(event, data)
            except asyncio.CancelledError:
                if self.closing and task not in self.ctx.answering:  # answers close themselves
                    await asyncio.shield(self._tell_restarting(event))
                raise
            finally:
                self.ctx.answering.discard(task)  # type: ignore[arg-type]

    async def _tell_restarting(self, update: Update) -> None:
        message = update.message
        if message is None:
            return
        with contextlib.suppress(Exception):  # best effort: the process is going away
            async with asyncio.timeout(5):
                text = tg_text(ui_lang(message.from_user), "restarting")
                await self.ctx.outbox.send(message.chat.id, text, reply_to=message.message_id)
