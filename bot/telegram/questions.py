"""Questions: every text in a private chat, and group messages that mention the bot or reply to
it, or, in a group set to ``questions`` mode, that ask something of no one in particular. The
listener resolves where (space, conversation, the chat's settings) and what was said around the
question (the message it replies to, the group messages the bot saw: ``bot.telegram.recent``),
and hands the rest to ``bot.chat.conversation``; the sinks stream the answer. In a group set to
``visibility private`` the answer goes to the asker's private chat, with a note in the group."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from aiogram import F, Router
from aiogram.enums import MessageEntityType
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError
from aiogram.types import Message

from bot.chat.conversation import ContextReader, Incoming
from bot.chat.messages import not_bound_text, reply_lang
from bot.chat.open_question import is_open_question
from bot.chat.streaming import RetryLater
from bot.telegram.context import PLATFORM, TELEGRAM_DOWNLOAD_LIMIT, BotContext, is_private, topic_of
from bot.telegram.html import escape, render_markdown
from bot.telegram.recent import author_of
from bot.telegram.sinks import DraftSink, PlaceholderSink
from bot.telegram.texts import tg_text
from core.errors import CoreError
from core.models import Binding, ConversationMessage

__all__ = ["build_router", "ask", "no_space_hint", "conversation_of", "CONTEXT_FILE_BYTES"]

log = logging.getLogger(__name__)

CONTEXT_FILE_BYTES = 2 * 1024 * 1024  # a document a question replies to is read as context up to this size


def no_space_hint(ctx: BotContext, private: bool, lang: str) -> str:
    if not private:
        return render_markdown(not_bound_text(lang, "/bind <space>"))
    choices = ctx.dm_choices()
    if not choices:
        return tg_text(lang, "dm_no_space_at_all")
    listed = ", ".join(f"<code>{escape(c)}</code>" for c in choices)
    return tg_text(lang, "dm_no_space", choices=tg_text(lang, "choices", spaces=listed))


def _addressed_elsewhere(message: Message, bot_id: int) -> bool:
    """Mentions someone, or replies to a person's message: meant for them, not for the bot."""
    reply = message.reply_to_message
    if reply is not None and reply.from_user is not None and reply.from_user.id != bot_id:
        return True
    return any(
        e.type in (MessageEntityType.MENTION, MessageEntityType.TEXT_MENTION) for e in message.entities or ()
    )


async def on_text(message: Message, ctx: BotContext) -> None:
    private = is_private(message.chat)
    binding: Binding | None = None
    if private:
        text = (message.text or "").strip()
    else:
        addressed, text = await ctx.addressed(message)
        ctx.recent.note(message, text)
        if not addressed:
            if not is_open_question(text, addressed_elsewhere=_addressed_elsewhere(message, ctx.bot.id)):
                return  # group chatter that is not for us
            binding = await ctx.binding_of(message.chat)
            if binding is None or binding.mode != "questions":
                return
            log.info("telegram.open_question chat=%s message=%s", message.chat.id, message.message_id)
    if binding is None:
        binding = await ctx.binding_of(message.chat)
    lang = reply_lang(text, binding.lang if binding else None)
    if not text:
        me = await ctx.me()
        await ctx.reply(message, tg_text(lang, "mention_empty", bot=escape(me.username or "bot")))
        return
    space = binding.space_id if binding else (ctx.settings.default_space if private else None)
    if space is None:
        await ctx.reply(message, no_space_hint(ctx, private, lang))
        return
    await ask(ctx, message, text, space, binding)


async def ask(
    ctx: BotContext,
    message: Message,
    text: str,
    space: str,
    binding: Binding | None = None,
    *,
    user_id: str | None = None,
    skip_verified: bool = False,
) -> None:
    """Answer ``text`` in ``message``'s chat from ``space``, streaming, then remember which
    messages show the answer so that replies to them continue the conversation. ``user_id``: who
    asked, when ``message`` is not theirs (the bot's own answer, under which they pressed "did
    not help"); ``skip_verified``: answer from the documents, not from a verified answer."""
    chat = message.chat
    lang = reply_lang(text, binding.lang if binding else None)
    if binding is not None and binding.visibility == "private" and not is_private(chat):
        await _ask_privately(ctx, message, text, space, binding, lang)
        return
    thread = await ctx.thread_of(message)
    bucket = ctx.limits[str(chat.id)]
    common = {"lang": lang, "bucket": bucket, "thread_id": topic_of(message)}
    if is_private(chat):
        sink: DraftSink | PlaceholderSink = DraftSink(
            ctx.outbox, chat.id, draft_id=message.message_id, **common
        )
    else:
        sink = PlaceholderSink(ctx.outbox, chat.id, reply_to=message.message_id, **common)
    incoming = _incoming(
        ctx,
        message,
        text,
        space,
        binding,
        chat_id=chat.id,
        thread=thread,
        user_id=user_id,
        skip_verified=skip_verified,
    )
    await _answer(ctx, incoming, sink)


def _incoming(
    ctx: BotContext,
    message: Message,
    text: str,
    space: str,
    binding: Binding | None,
    *,
    chat_id: int,
    thread: str,
    user_id: str | None = None,
    skip_verified: bool = False,
) -> Incoming:
    return Incoming(
        platform=PLATFORM,
        channel_id=str(chat_id),
        user_id=user_id or (str(message.from_user.id) if message.from_user else ""),
        text=text,
        space_id=space,
        thread_id=thread,
        doc_type=binding.doc_type if binding else None,
        default_lang=binding.lang if binding else None,
        # asked again after "did not help": on its own, not as a follow-up of the bot's answer
        context=None if skip_verified else conversation_of(ctx, message),
        skip_verified=skip_verified,
    )


async def _answer(ctx: BotContext, incoming: Incoming, sink: DraftSink | PlaceholderSink) -> None:
    task = asyncio.current_task()
    if task is not None:  # cancelled at shutdown, the answer closes itself with a message
        ctx.answering.add(task)  # (the update gate forgets the task when the update is done)
    try:
        answer, _ = await ctx.conversation.answer(incoming, sink, sink.bucket)
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


async def _ask_privately(
    ctx: BotContext, message: Message, text: str, space: str, binding: Binding, lang: str
) -> None:
    """The answer in the asker's private chat, the group told where it went. Telegram refuses a
    bot's first message to someone who never started it: then the group says how to fix that."""
    user = message.from_user
    if user is None:
        return
    who = escape(author_of(user))
    me = await ctx.me()
    title = escape(message.chat.title or "")
    try:
        opener = await _send_patiently(
            ctx, user.id, tg_text(lang, "private_opener", chat=title, question=escape(text[:300]))
        )
    except TelegramForbiddenError:
        log.info(
            "telegram.private_refused chat=%s user=%s: the user never started the bot",
            message.chat.id,
            user.id,
        )
        await ctx.reply(message, tg_text(lang, "private_blocked", who=who, bot=escape(me.username or "")))
        return
    if opener is None:
        return
    await ctx.reply(message, tg_text(lang, "private_sent", who=who))
    bucket = ctx.limits[str(user.id)]
    sink = DraftSink(
        ctx.outbox, user.id, draft_id=message.message_id, lang=lang, bucket=bucket, reply_to=opener
    )
    # the private chat is the conversation from here: a reply there to the answer continues it
    incoming = _incoming(ctx, message, text, space, binding, chat_id=user.id, thread=str(opener))
    await _answer(ctx, incoming, sink)


async def _send_patiently(ctx: BotContext, chat_id: int, markup: str) -> int | None:
    """Send one message, waiting out a rate limit once; its id, or None when it could not go."""
    bucket = ctx.limits[str(chat_id)]
    for _ in range(2):
        await bucket.take()
        try:
            return (await ctx.outbox.send(chat_id, markup)).message_id
        except RetryLater as e:
            bucket.block_for(e.seconds)
    log.error("telegram.private_lost chat=%s: rate limited", chat_id)
    return None


def conversation_of(ctx: BotContext, message: Message) -> ContextReader:
    """What was said around ``message``: in groups the messages the bot saw before it, and in
    every chat the message it replies to (with a document, read as text), unless that is the
    bot's own answer (already the conversation's history)."""

    async def read() -> list[ConversationMessage]:
        out = [] if is_private(message.chat) else ctx.recent.before(message)
        reply = message.reply_to_message
        if reply is None or (reply.from_user is not None and reply.from_user.id == ctx.bot.id):
            return out
        author = author_of(reply.from_user)
        quoted = (reply.text or reply.caption or "").strip()
        out = [m for m in out if m.text != quoted]  # seen already: shown once, as the reply
        if quoted:
            out.append(ConversationMessage(author, quoted))
        if reply.document is not None:
            content = await _document_text(ctx, reply)
            if content:
                out.append(
                    ConversationMessage(author, f"[file {reply.document.file_name or 'document'}]\n{content}")
                )
        return out

    return read


async def _document_text(ctx: BotContext, message: Message) -> str | None:
    """A document a question replies to, as text for that answer only (never ingested); None,
    logged, when it is too large or not text."""
    document = message.document
    assert document is not None
    name = document.file_name or "document"
    if (document.file_size or 0) > min(CONTEXT_FILE_BYTES, TELEGRAM_DOWNLOAD_LIMIT):
        log.info("telegram.file_skipped name=%s reason=too_large size=%s", name, document.file_size)
        return None
    try:
        buffer = await ctx.bot.download(document)
        content = buffer.read() if buffer is not None else b""
        return await ctx.service.read_attachment(
            name, content, media_type=document.mime_type, max_bytes=CONTEXT_FILE_BYTES
        )
    except CoreError as e:
        log.info("telegram.file_unreadable name=%s reason=%s", name, e.code)
    except (TimeoutError, TelegramAPIError, aiohttp.ClientError) as e:
        # not the exception text: a failed download's URL carries the bot token
        log.warning("telegram.file_unreadable name=%s error=%s", name, type(e).__name__)
    return None


def build_router() -> Router:
    router = Router(name="telegram-questions")
    router.message.register(on_text, F.text)
    return router
