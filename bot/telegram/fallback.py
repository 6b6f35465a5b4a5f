"""Messages the bot cannot answer (stickers, photos, voice, …) get a useful reply instead of
silence: in private chats always, in groups only when they are addressed to the bot. And one
service message matters: a group that becomes a supergroup gets a new chat id, and its binding
moves with it."""

from __future__ import annotations

import logging
from dataclasses import replace

from aiogram import F, Router
from aiogram.enums import ContentType
from aiogram.types import Message

from bot.telegram.context import PLATFORM, BotContext, is_private, ui_lang
from bot.telegram.texts import tg_text

__all__ = ["build_router", "CONTENT_TYPES"]

log = logging.getLogger(__name__)

# Things people send; service messages (members joining, pins, …) need no reply.
CONTENT_TYPES = frozenset(
    {
        ContentType.STICKER,
        ContentType.PHOTO,
        ContentType.VOICE,
        ContentType.VIDEO,
        ContentType.VIDEO_NOTE,
        ContentType.AUDIO,
        ContentType.ANIMATION,
        ContentType.LOCATION,
        ContentType.VENUE,
        ContentType.CONTACT,
        ContentType.POLL,
        ContentType.DICE,
        ContentType.STORY,
        ContentType.GAME,
    }
)


async def on_other(message: Message, ctx: BotContext) -> None:
    if message.content_type not in CONTENT_TYPES:
        return
    if not is_private(message.chat):
        addressed, _ = await ctx.addressed(message)
        if not addressed:
            return
    lang = ui_lang(message.from_user)
    is_admin = await ctx.is_admin(message.from_user)
    await ctx.reply(message, tg_text(lang, "not_text_admin" if is_admin else "not_text"))


async def on_migrated(message: Message, ctx: BotContext) -> None:
    new_id = message.migrate_to_chat_id
    binding = await ctx.service.binding_for(PLATFORM, str(message.chat.id))
    if binding is None or new_id is None:
        return
    await ctx.service.bind(replace(binding, channel_id=str(new_id)))
    await ctx.service.unbind(PLATFORM, str(message.chat.id))
    log.info("telegram.group_migrated from=%s to=%s space=%s", message.chat.id, new_id, binding.space_id)


def build_router() -> Router:
    router = Router(name="telegram-fallback")
    router.message.register(on_migrated, F.migrate_to_chat_id)
    router.message.register(on_other)
    return router
