"""Slash commands: /start, /help, /space for everyone; /bind /unbind /pin /unpin /reindex
/status /stats for admins, run by ``bot.chat.commands.AdminCommands`` exactly as in Slack.

``/cmd@otherbot`` belongs to another bot and is ignored; in groups an unknown ``/cmd`` is too
(it is probably another bot's). ``/pin`` replying to a document or a message keeps that file
(or the text, as Markdown) under the uploads folder and pins the path. ``/verify`` replying to
one of the bot's answers endorses it, or, with text, replaces it with that text as the verified
answer (docs/feedback.md)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from aiogram import F, Router
from aiogram.types import Message

from bot.chat.commands import (
    COMMANDS,
    VERIFY_SEPARATOR,
    AdminCommands,
    Command,
    CommandContext,
    parse_command,
)
from bot.chat.messages import not_admin_text
from bot.telegram.context import PLATFORM, BotContext, is_private, ui_lang
from bot.telegram.html import escape, render_markdown
from bot.telegram.questions import no_space_hint
from bot.telegram.texts import tg_text
from bot.telegram.uploads import UploadRefused, download_document
from core.errors import CoreError
from core.models import Binding
from core.service import check_space_id

__all__ = ["build_router", "SlashCommand", "parse_slash"]

log = logging.getLogger(__name__)

_SLASH = re.compile(
    r"^/(?P<name>[A-Za-z0-9_]{1,32})(?:@(?P<mention>[A-Za-z0-9_]{3,64}))?(?:\s+(?P<rest>.*))?$", re.S
)
_USER_COMMANDS = {"start", "help", "space"}


@dataclass(frozen=True)
class SlashCommand:
    name: str
    mention: str | None
    rest: str


def parse_slash(text: str) -> SlashCommand | None:
    m = _SLASH.match(text.strip())
    if not m:
        return None
    return SlashCommand(m.group("name").lower(), m.group("mention"), (m.group("rest") or "").strip())


async def on_command(message: Message, ctx: BotContext) -> None:
    slash = parse_slash(message.text or "")
    me = await ctx.me()
    if slash is None:
        return
    if slash.mention and slash.mention.lower() != (me.username or "").lower():
        return  # addressed to another bot
    known = slash.name in COMMANDS or slash.name in _USER_COMMANDS
    private = is_private(message.chat)
    lang = ui_lang(message.from_user)
    if not known:
        if private or slash.mention:
            await ctx.reply(message, tg_text(lang, "unknown_command", name=escape(slash.name)))
        return
    if slash.name == "start":
        await _start(message, ctx, lang)
    elif slash.name == "help":
        await _help(message, ctx, lang)
    elif slash.name == "space":
        await _space(message, ctx, slash.rest, lang)
    elif slash.name == "pin" and message.reply_to_message is not None and not slash.rest.startswith("http"):
        await _pin_reply(message, ctx, slash.rest, lang)
    elif (
        slash.name == "verify" and message.reply_to_message is not None and VERIFY_SEPARATOR not in slash.rest
    ):
        await _verify_reply(message, ctx, slash.rest, lang)
    else:
        await _admin(message, ctx, parse_command(f"{slash.name} {slash.rest}"), lang)


def _context(message: Message, lang: str, is_admin: bool) -> CommandContext:
    return CommandContext(
        platform=PLATFORM,
        channel_id=str(message.chat.id),
        user_id=str(message.from_user.id) if message.from_user else "",
        is_admin=is_admin,
        lang=lang,
        prefix="/",
        private=is_private(message.chat),
    )


async def _admin(message: Message, ctx: BotContext, command: Command, lang: str) -> None:
    is_admin = await ctx.is_admin(message.from_user, message.chat)
    commands = AdminCommands(ctx.service, ctx.console)
    if is_admin:  # /reindex and /pin may take a while
        await _typing(ctx, message)
    reply = await commands.run(command, _context(message, lang, is_admin))
    await ctx.reply_markdown(message, reply)


async def _typing(ctx: BotContext, message: Message) -> None:
    try:
        await ctx.outbox.typing(message.chat.id)
    except Exception:  # only a courtesy
        log.debug("telegram.typing_failed chat=%s", message.chat.id, exc_info=True)


async def _current_line(ctx: BotContext, message: Message, lang: str) -> str:
    space = await ctx.space_of(message.chat)
    key = "space_line_current" if space else "space_line_none"
    return tg_text(lang, key, space=escape(space or ""))


async def _start(message: Message, ctx: BotContext, lang: str) -> None:
    if not is_private(message.chat):
        await _help(message, ctx, lang)
        return
    await ctx.reply(message, tg_text(lang, "start", space_line=await _current_line(ctx, message, lang)))


async def _help(message: Message, ctx: BotContext, lang: str) -> None:
    me = await ctx.me()
    types = [t.name for t in ctx.service.doc_types]
    await ctx.reply(
        message,
        tg_text(
            lang,
            "user_help",
            bot=escape(me.username or "bot"),
            example=escape(types[0] if types else "runbook"),
            types=escape(", ".join(types)),
        ),
    )
    if await ctx.is_admin(message.from_user, message.chat):
        commands = AdminCommands(ctx.service, ctx.console)
        await ctx.reply_markdown(message, commands.help_text(_context(message, lang, True)))


def _listed(spaces: list[str]) -> str:
    return ", ".join(f"<code>{escape(s)}</code>" for s in spaces)


async def _space(message: Message, ctx: BotContext, rest: str, lang: str) -> None:
    """/space: which space this chat answers from; /space NAME chooses one (private chats)."""
    current = await ctx.space_of(message.chat)
    now = tg_text(lang, "space_current", space=escape(current)) if current else tg_text(lang, "space_unset")
    if not is_private(message.chat):
        await ctx.reply(message, tg_text(lang, "space_group", current=now))
        return
    is_admin = await ctx.is_admin(message.from_user)
    choices = ctx.dm_choices()
    wanted = rest.split()[0] if rest.split() else ""
    if not wanted:
        if is_admin:
            known = sorted({s.space_id for s in await ctx.service.spaces()} | set(choices))
            listing = tg_text(lang, "space_choices_admin", spaces=_listed(known) or "—")
        elif choices:
            listing = tg_text(lang, "space_choices", spaces=_listed(choices))
        else:
            listing = tg_text(lang, "dm_no_space_at_all")
        await ctx.reply(message, f"{now}\n{listing}")
        return
    if not is_admin and wanted not in choices:
        listing = _listed(choices) if choices else "—"
        await ctx.reply(message, tg_text(lang, "space_not_allowed", space=escape(wanted), spaces=listing))
        return
    try:
        check_space_id(wanted)
        await ctx.service.bind(Binding(PLATFORM, str(message.chat.id), wanted))
    except CoreError as e:
        await ctx.reply(message, render_markdown(e.message))
        return
    has_docs = any(s.space_id == wanted for s in await ctx.service.spaces())
    await ctx.reply(
        message, tg_text(lang, "space_set" if has_docs else "space_set_empty", space=escape(wanted))
    )


async def _pin_reply(message: Message, ctx: BotContext, rest: str, lang: str) -> None:
    """/pin as a reply: keep the document (or the message text, as Markdown) and pin that file."""
    is_admin = await ctx.is_admin(message.from_user, message.chat)
    if not is_admin:
        await ctx.reply(message, escape(not_admin_text(lang)))
        return
    target = message.reply_to_message
    if target is None:
        return
    space = await ctx.space_of(message.chat)
    if space is None:
        await ctx.reply(message, no_space_hint(ctx, is_private(message.chat), lang))
        return
    if target.document is not None:
        try:
            name, content = await download_document(ctx, target.document, lang)
        except UploadRefused as e:
            await ctx.reply(message, e.markup)
            return
    elif target.text or target.caption:
        name, content = (
            f"telegram-{abs(message.chat.id)}-{target.message_id}.md",
            (target.text or target.caption or "").encode(),
        )
    else:
        await ctx.reply(message, tg_text(lang, "pin_reply_hint"))
        return
    await _typing(ctx, message)
    commands = AdminCommands(ctx.service, ctx.console)
    try:
        path = await ctx.service.save_upload(space, name, content)
        reply = await commands.pin_location(path, rest.split(), _context(message, lang, True))
    except CoreError as e:
        reply = e.message
    await ctx.reply_markdown(message, reply)


async def _verify_reply(message: Message, ctx: BotContext, rest: str, lang: str) -> None:
    """/verify replying to one of the bot's answers: endorse it, or correct it with ``rest``."""
    is_admin = await ctx.is_admin(message.from_user, message.chat)
    if not is_admin:
        await ctx.reply(message, escape(not_admin_text(lang)))
        return
    target = message.reply_to_message
    if target is None:
        return
    answer_id = await ctx.service.answer_of_message(PLATFORM, str(message.chat.id), str(target.message_id))
    if answer_id is None:
        await ctx.reply(message, tg_text(lang, "verify_reply_hint"))
        return
    commands = AdminCommands(ctx.service)
    try:
        reply = await commands.verify_answer(answer_id, rest.strip() or None, _context(message, lang, True))
    except CoreError as e:
        reply = e.message
    await ctx.reply_markdown(message, reply)


def build_router() -> Router:
    router = Router(name="telegram-commands")
    router.message.register(on_command, F.text.startswith("/"))
    return router
