"""Questions: every text in a private chat, and group messages that mention the bot or reply
to it. The listener resolves where (space, conversation) and hands the rest to
``bot.chat.conversation``; the sinks stream the answer."""

from __future__ import annotations

import asyncio
import logging

from aiogram import F, Router
from aiogram.types import Message

from bot.chat.conversation import Incoming
from bot.chat.messages import lang_of, not_bound_text
from bot.telegram.context import PLATFORM, BotContext, is_private, topic_of
from bot.telegram.html import escape, render_markdown
from bot.telegram.sinks import DraftSink, PlaceholderSink
from bot.telegram.texts import tg_text
from core.errors import CoreError

__all__ = ["build_router", "ask", "no_space_hint"]

log = logging.getLogger(__name__)


def no_space_hint(ctx: BotContext, private: bool, lang: str) -> str:
    if not private:
        return render_markdown(not_bound_text(lang, "/bind <space>"))
    choices = ctx.dm_choices()
    if not choices:
        return tg_text(lang, "dm_no_space_at_all")
    listed = ", ".join(f"<code>{escape(c)}</code>" for c in choices)
    return tg_text(lang, "dm_no_space", choices=tg_text(lang, "choices", spaces=listed))


async def on_text(message: Message, ctx: BotContext) -> None:
    private = is_private(message.chat)
    if private:
        text = (message.text or "").strip()
    else:
        addressed, text = await ctx.addressed(message)
        if not addressed:
            return  # group chatter that is not for us
    lang = lang_of(text)
    if not text:
        me = await ctx.me()
        await ctx.reply(message, tg_text(lang, "mention_empty", bot=escape(me.username or "bot")))
        return
    space = await ctx.space_of(message.chat)
    if space is None:
        await ctx.reply(message, no_space_hint(ctx, private, lang))
        return
    await ask(ctx, message, text, space)


async def ask(
    ctx: BotContext,
    message: Message,
    text: str,
    space: str,
    *,
    user_id: str | None = None,
    skip_verified: bool = False,
) -> None:
    """Answer ``text`` in ``message``'s chat from ``space``, streaming, then remember which
    messages show the answer so that replies to them continue the conversation. ``user_id``: who
    asked, when ``message`` is not theirs (the bot's own answer, under which they pressed "did
    not help"); ``skip_verified``: answer from the documents, not from a verified answer."""
    chat = message.chat
    thread = await ctx.thread_of(message)
    bucket = ctx.limits[str(chat.id)]
    common = {"lang": lang_of(text), "bucket": bucket, "thread_id": topic_of(message)}
    if is_private(chat):
        sink: DraftSink | PlaceholderSink = DraftSink(
            ctx.outbox, chat.id, draft_id=message.message_id, **common
        )
    else:
        sink = PlaceholderSink(ctx.outbox, chat.id, reply_to=message.message_id, **common)
    incoming = Incoming(
        platform=PLATFORM,
        channel_id=str(chat.id),
        user_id=user_id or (str(message.from_user.id) if message.from_user else ""),
        text=text,
        space_id=space,
        thread_id=thread,
        skip_verified=skip_verified,
    )
    task = asyncio.current_task()
    if task is not None:  # cancelled at shutdown, the answer closes itself with a message
        ctx.answering.add(task)  # (the update gate forgets the task when the update is done)
    try:
        answer, _ = await ctx.conversation.answer(incoming, sink, bucket)
    finally:
        await sink.typing.stop()
    if answer is None:
        return
    for message_id in sink.message_ids:
        try:
            await ctx.service.link_message(answer.answer_id, str(message_id))
        except CoreError as e:  # the answer is delivered; only follow-ups lose their history
            log.warning(
                "telegram.link_failed answer=%s message=%s error=%s", answer.answer_id, message_id, e.message
            )


def build_router() -> Router:
    router = Router(name="telegram-questions")
    router.message.register(on_text, F.text)
    return router
