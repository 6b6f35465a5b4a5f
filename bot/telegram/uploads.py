"""Documents sent to the bot: an admin's PDF, DOCX, Markdown, text or HTML file is ingested
into the chat's space. Type and size are checked from the message itself, before anything is
downloaded (Telegram serves bots files of up to 20 MB; INGEST_MAX_FILE_MB may be lower), and the
download is cut off if the file turns out bigger than announced."""

from __future__ import annotations

import io
import logging

import aiohttp
from aiogram import F, Router
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.types import Document, Message

from bot.chat.messages import not_bound_text
from bot.telegram.context import TELEGRAM_DOWNLOAD_LIMIT, BotContext, is_private, ui_lang
from bot.telegram.html import escape, render_markdown
from bot.telegram.texts import tg_text
from core.errors import CoreError, UnsupportedType
from core.ingest.extract import format_for
from core.models import IngestReport, OutcomeStatus
from core.text import describe_size

__all__ = ["build_router", "UploadRefused", "download_document", "describe_report"]

log = logging.getLogger(__name__)


class UploadRefused(Exception):
    """A document we will not take, with the reply that says why (Telegram HTML)."""

    def __init__(self, markup: str) -> None:
        super().__init__(markup)
        self.markup = markup


class _TooLarge(Exception):
    pass


class _LimitedBuffer(io.BytesIO):
    """Stops a download that grows past the limit (``file_size`` is optional in the Bot API)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if self.tell() + len(data) > self.limit:
            raise _TooLarge
        return super().write(data)


def _name_of(document: Document) -> str:
    return document.file_name or f"document-{document.file_unique_id}"


async def download_document(ctx: BotContext, document: Document, lang: str) -> tuple[str, bytes]:
    """The document's name and bytes, or ``UploadRefused`` with the reason for people."""
    name = _name_of(document)
    shown = escape(name)
    try:
        format_for(name, document.mime_type)
    except UnsupportedType as e:
        raise UploadRefused(
            tg_text(lang, "upload_failed", name=shown, reason=render_markdown(e.message))
        ) from e
    size = document.file_size or 0
    if size > ctx.max_file_bytes:
        raise UploadRefused(
            tg_text(
                lang,
                "upload_too_large",
                name=shown,
                size=describe_size(size),
                limit=describe_size(ctx.max_file_bytes),
            )
        )
    if size > TELEGRAM_DOWNLOAD_LIMIT:
        raise UploadRefused(tg_text(lang, "upload_too_large_tg", name=shown, size=describe_size(size)))
    limit = min(ctx.max_file_bytes, TELEGRAM_DOWNLOAD_LIMIT)
    buffer = _LimitedBuffer(limit)
    try:
        await ctx.bot.download(document, destination=buffer)
    except _TooLarge as e:
        raise UploadRefused(
            tg_text(
                lang,
                "upload_too_large",
                name=shown,
                size=f"> {describe_size(limit)}",
                limit=describe_size(limit),
            )
        ) from e
    except TelegramBadRequest as e:
        if "too big" in e.message.lower():
            raise UploadRefused(tg_text(lang, "upload_too_large_tg", name=shown, size="> 20 MB")) from e
        log.warning("telegram.download_failed file=%s error=%s", name, e.message)
        raise UploadRefused(tg_text(lang, "upload_download_failed", name=shown)) from e
    except (TimeoutError, TelegramAPIError, aiohttp.ClientError) as e:
        # not the exception text: a failed download's URL carries the bot token
        log.warning(
            "telegram.download_failed file=%s error=%s status=%s",
            name,
            type(e).__name__,
            getattr(e, "status", ""),
        )
        raise UploadRefused(tg_text(lang, "upload_download_failed", name=shown)) from e
    return name, buffer.getvalue()


def describe_report(report: IngestReport, name: str, lang: str) -> str:
    shown, space = escape(name), escape(report.space_id)
    for outcome in report.outcomes:
        if outcome.status is OutcomeStatus.FAILED:
            return tg_text(lang, "upload_failed", name=shown, reason=render_markdown(outcome.reason))
    if report.count(OutcomeStatus.ADDED) or report.count(OutcomeStatus.UPDATED):
        what = tg_text(lang, "chunks", n=report.chunks_written)
        return tg_text(lang, "upload_done", name=shown, space=space, what=what)
    if report.count(OutcomeStatus.UNCHANGED):
        return tg_text(lang, "upload_unchanged", name=shown, space=space)
    return tg_text(lang, "upload_failed", name=shown, reason=escape("nothing could be read from it."))


async def on_document(message: Message, ctx: BotContext) -> None:
    private = is_private(message.chat)
    if not private:
        addressed, _ = await ctx.addressed(message)
        if not addressed:
            return  # a file shared in a group, not sent to the bot
    lang = ui_lang(message.from_user)
    if not await ctx.is_admin(message.from_user, message.chat):
        await ctx.reply(message, tg_text(lang, "upload_not_admin"))
        return
    space = await ctx.space_of(message.chat)
    if space is None:
        hint = (
            tg_text(lang, "space_line_none")
            if private
            else render_markdown(not_bound_text(lang, "/bind <space>"))
        )
        await ctx.reply(message, tg_text(lang, "upload_no_space", hint=hint))
        return
    document = message.document
    if document is None:
        return
    try:
        name, content = await download_document(ctx, document, lang)
    except UploadRefused as e:
        await ctx.reply(message, e.markup)
        return
    try:
        await ctx.outbox.typing(message.chat.id)
    except Exception:  # only a courtesy
        log.debug("telegram.typing_failed chat=%s", message.chat.id, exc_info=True)
    try:
        report = await ctx.service.ingest_upload(space, name, content)
    except CoreError as e:
        await ctx.reply(
            message, tg_text(lang, "upload_failed", name=escape(name), reason=render_markdown(e.message))
        )
        return
    log.info(
        "telegram.uploaded chat=%s space=%s file=%s chunks=%d",
        message.chat.id,
        space,
        name,
        report.chunks_written,
    )
    await ctx.reply(message, describe_report(report, name, lang))


def build_router() -> Router:
    router = Router(name="telegram-uploads")
    router.message.register(on_document, F.document)
    return router
