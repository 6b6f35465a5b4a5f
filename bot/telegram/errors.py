"""The dispatcher's one error handler: whatever a handler raised is logged with the update id
and turned into a short, human message where the person will see it. Polling goes on."""

from __future__ import annotations

import logging

from aiogram.types import ErrorEvent

from bot.chat.messages import error_text, lang_of
from bot.telegram.context import BotContext, ui_lang
from bot.telegram.html import render_markdown

__all__ = ["on_error"]

log = logging.getLogger(__name__)


async def on_error(event: ErrorEvent, ctx: BotContext) -> bool:
    update, error = event.update, event.exception
    log.error(
        "telegram.handler_failed update=%s error=%s: %s",
        update.update_id,
        type(error).__name__,
        error,
        exc_info=(type(error), error, error.__traceback__),
    )
    try:
        if update.message is not None:
            message = update.message
            lang = lang_of(message.text) if message.text else ui_lang(message.from_user)
            await ctx.reply(message, render_markdown(error_text(error, lang)))
        elif update.callback_query is not None:
            query = update.callback_query
            await query.answer(error_text(error, ui_lang(query.from_user))[:200], show_alert=True)
    except Exception:  # telling the person failed too (blocked, network): the log has it
        log.warning("telegram.error_reply_failed update=%s", update.update_id, exc_info=True)
    return True
