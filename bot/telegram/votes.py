"""Feedback: 👍 / 👎 under an answer, the quick reasons after 👎, a free-text reason typed
as a reply to the bot's "what was wrong?" prompt, and "did not help" under a verified answer
(a generated answer follows, docs/feedback.md). Every click is acknowledged
(``answerCallbackQuery``) and stored through ``service.vote``; a later vote replaces an earlier one."""

from __future__ import annotations

import html
import logging

from aiogram import F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Filter
from aiogram.types import CallbackQuery, ForceReply, Message

from bot.chat.feedback import decode
from bot.chat.messages import error_text, lang_of, vote_ack_text
from bot.chat.streaming import RetryLater
from bot.chat.verified import FALLBACK_PREFIX, decode_fallback, fallback_notice
from bot.telegram.context import PLATFORM, BotContext, is_private, ui_lang
from bot.telegram.feedback import (
    PendingReason,
    is_verified_keyboard,
    reasons_keyboard,
    verified_keyboard,
    vote_keyboard,
)
from bot.telegram.html import escape, render_markdown
from bot.telegram.questions import ask
from bot.telegram.texts import tg_text
from core.errors import CoreError
from core.models import Vote

__all__ = ["build_router", "REASON_MAX_CHARS"]

log = logging.getLogger(__name__)

REASON_MAX_CHARS = 500


class _AwaitedReason(Filter):
    """A message replying to one of our "what was wrong?" prompts, from the person it asked."""

    async def __call__(self, message: Message, ctx: BotContext) -> bool | dict:
        reply = message.reply_to_message
        if reply is None or message.from_user is None:
            return False
        pending = ctx.pending.get(message.chat.id, reply.message_id)
        if pending is None or pending.user_id != message.from_user.id:
            return False
        return {"pending": pending}


async def on_reason(message: Message, ctx: BotContext, pending: PendingReason) -> None:
    reply = message.reply_to_message
    if reply is not None:
        ctx.pending.pop(message.chat.id, reply.message_id)
    text = (message.text or "").strip()[:REASON_MAX_CHARS]
    reason = f"{pending.code}: {text}" if pending.code else text
    try:
        await ctx.service.vote(
            Vote(pending.answer_id, str(pending.user_id), -1, reason=reason, platform=PLATFORM)
        )
    except CoreError as e:
        await ctx.reply(message, render_markdown(e.message))
        return
    await ctx.reply(message, escape(vote_ack_text(pending.lang, -1, with_reason=True)))


def _lang(query: CallbackQuery) -> str:
    message = query.message
    if isinstance(message, Message) and (message.text or message.caption):
        return lang_of(message.text or message.caption or "")
    return ui_lang(query.from_user)


async def on_vote(query: CallbackQuery, ctx: BotContext) -> None:
    action = decode(query.data or "")
    lang = _lang(query)
    if action is None:
        await query.answer()
        return
    user = query.from_user
    try:
        result = await ctx.service.vote(
            Vote(action.answer_id, str(user.id), action.value, reason=action.reason, platform=PLATFORM)
        )
    except CoreError as e:
        await query.answer(e.message[:200], show_alert=True)  # Telegram's limit for the alert
        return
    # a message older than 48 h arrives as InaccessibleMessage: the vote counts, the buttons stay
    message = query.message if isinstance(query.message, Message) else None
    prompt = None
    if message is not None:
        prompt = ctx.pending.find(message.chat.id, action.answer_id, user.id)
        if action.reason and prompt is not None:
            ctx.pending.set_code(message.chat.id, prompt, action.reason)
        if action.value < 0 and action.reason is None:
            keyboard = reasons_keyboard(action.answer_id, lang)
        elif is_verified_keyboard(message.reply_markup):  # 👍 on a verified answer keeps its buttons
            keyboard = verified_keyboard(action.answer_id, lang)
        else:
            keyboard = vote_keyboard(action.answer_id)
        await _set_keyboard(ctx, message, keyboard)
    ack = vote_ack_text(lang, action.value, changed=result.changed, with_reason=action.reason is not None)
    await query.answer(ack)
    if message is not None and action.value < 0 and action.reason is None and prompt is None:
        await _ask_reason(ctx, message, query, action.answer_id, lang)


async def _set_keyboard(ctx: BotContext, message: Message, keyboard) -> None:  # noqa: ANN001
    try:
        await ctx.outbox.edit_keyboard(message.chat.id, message.message_id, keyboard)
    except (RetryLater, TelegramAPIError) as e:  # the vote is stored; the buttons are cosmetic
        log.info("telegram.keyboard_not_updated chat=%s error=%s", message.chat.id, e)


async def _ask_reason(
    ctx: BotContext, message: Message, query: CallbackQuery, answer_id: str, lang: str
) -> None:
    """Invite a free-text reason: a prompt with ForceReply, so the reply box opens for the voter."""
    user = query.from_user
    if is_private(message.chat):
        text = tg_text(lang, "reason_prompt_dm")
    else:
        who = f'<a href="tg://user?id={user.id}">{html.escape(user.first_name or "you", quote=False)}</a>'
        text = tg_text(lang, "reason_prompt", who=who)
    force = ForceReply(
        force_reply=True, selective=True, input_field_placeholder=tg_text(lang, "reason_placeholder")
    )
    prompt = await ctx.reply(message, text, keyboard=force)
    if prompt is not None:
        ctx.pending.add(message.chat.id, prompt.message_id, PendingReason(answer_id, user.id, lang))


async def on_did_not_help(query: CallbackQuery, ctx: BotContext) -> None:
    """ "Did not help" under a verified answer: a thumbs-down, then a generated answer replying
    to it in the same chat."""
    action = decode_fallback(query.data or "")
    lang = _lang(query)
    message = query.message if isinstance(query.message, Message) else None
    if action is None or message is None:
        await query.answer()
        return
    try:
        answer = await ctx.service.did_not_help(
            action.answer_id, user_id=str(query.from_user.id), platform=PLATFORM
        )
    except CoreError as e:
        await query.answer(e.message[:200], show_alert=True)
        return
    except Exception as e:  # the store is down...: the person hears of it, the log has the details
        log.exception("telegram.did_not_help_failed answer=%s", action.answer_id)
        await query.answer(error_text(e, lang)[:200], show_alert=True)
        return
    await query.answer(fallback_notice(answer.lang))
    await _set_keyboard(ctx, message, vote_keyboard(action.answer_id))  # its 👎 is recorded
    text = f"{answer.doc_type}: {answer.question}" if answer.doc_type else answer.question
    await ask(ctx, message, text, answer.space_id, user_id=str(query.from_user.id), skip_verified=True)


def build_router() -> Router:
    router = Router(name="telegram-votes")
    router.message.register(on_reason, F.text, _AwaitedReason())
    router.callback_query.register(on_vote, F.data.startswith("fb:"))
    router.callback_query.register(on_did_not_help, F.data.startswith(f"{FALLBACK_PREFIX}:"))
    return router
