"""Sending to Telegram with its failure modes translated once, for every caller.

- ``TelegramRetryAfter`` (429; aiogram does not retry by itself, ``retry_after`` may exceed
  100 s) becomes ``RetryLater``, which the streaming layer understands; so do network errors
  and 5xx, with a short pause.
- "can't parse entities": the same text is sent again as plain text (the visible text of our
  HTML), so a formatting bug never costs the answer.
- "message is not modified" on an edit means the message already shows what we wanted.
- an edit of a message that is gone raises ``MessageGone``: the caller sends a new one."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import (
    ForceReply,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
)

from bot.chat.streaming import RetryLater
from bot.telegram.html import visible_text

__all__ = ["Outbox", "MessageGone", "is_parse_error", "is_not_modified"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# A pause after a network error or a 5xx, before the streaming layer tries again.
NETWORK_RETRY_S = 3.0

_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)  # source links would each unfurl a preview


class MessageGone(Exception):
    """The message to edit no longer exists (deleted, or too old to edit)."""


def is_parse_error(error: TelegramBadRequest) -> bool:
    return "can't parse entities" in error.message.lower() or "can't find end" in error.message.lower()


def is_not_modified(error: TelegramBadRequest) -> bool:
    return "message is not modified" in error.message.lower()


def _is_gone(error: TelegramBadRequest) -> bool:
    text = error.message.lower()
    return "message to edit not found" in text or "message can't be edited" in text


async def _translated(call: Callable[[], Awaitable[T]]) -> T:
    try:
        return await call()
    except TelegramRetryAfter as e:
        raise RetryLater(e.retry_after) from e
    except (TelegramNetworkError, TelegramServerError) as e:
        log.warning("telegram.unreachable method=%s error=%s", type(e.method).__name__, e.message)
        raise RetryLater(NETWORK_RETRY_S) from e


class Outbox:
    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def _html_or_plain(self, call: Callable[[str, str | None], Awaitable[T]], markup: str) -> T:
        try:
            return await _translated(lambda: call(markup, "HTML"))
        except TelegramBadRequest as e:
            if not is_parse_error(e):
                raise
            log.warning("telegram.parse_failed error=%s: sending plain text", e.message)
            return await _translated(lambda: call(visible_text(markup), None))

    async def send(
        self,
        chat_id: int,
        markup: str,
        *,
        reply_to: int | None = None,
        thread_id: int | None = None,
        keyboard: InlineKeyboardMarkup | ForceReply | None = None,
    ) -> Message:
        reply = ReplyParameters(message_id=reply_to, allow_sending_without_reply=True) if reply_to else None

        async def call(text: str, mode: str | None) -> Message:
            return await self.bot.send_message(
                chat_id,
                text,
                parse_mode=mode,
                message_thread_id=thread_id,
                reply_parameters=reply,
                reply_markup=keyboard,
                link_preview_options=_NO_PREVIEW,
            )

        return await self._html_or_plain(call, markup)

    async def edit(
        self, chat_id: int, message_id: int, markup: str, *, keyboard: InlineKeyboardMarkup | None = None
    ) -> None:
        async def call(text: str, mode: str | None) -> object:
            return await self.bot.edit_message_text(
                text=text,
                chat_id=chat_id,
                message_id=message_id,
                parse_mode=mode,
                reply_markup=keyboard,
                link_preview_options=_NO_PREVIEW,
            )

        try:
            await self._html_or_plain(call, markup)
        except TelegramBadRequest as e:
            if is_not_modified(e):
                return
            if _is_gone(e):
                raise MessageGone(e.message) from e
            raise

    async def edit_keyboard(
        self, chat_id: int, message_id: int, keyboard: InlineKeyboardMarkup | None
    ) -> None:
        try:
            await _translated(
                lambda: self.bot.edit_message_reply_markup(
                    chat_id=chat_id, message_id=message_id, reply_markup=keyboard
                )
            )
        except TelegramBadRequest as e:
            if not is_not_modified(e):
                raise

    async def draft(self, chat_id: int, draft_id: int, markup: str) -> None:
        async def call(text: str, mode: str | None) -> object:
            return await self.bot.send_message_draft(
                chat_id=chat_id, draft_id=draft_id, text=text, parse_mode=mode
            )

        await self._html_or_plain(call, markup)

    async def typing(self, chat_id: int, thread_id: int | None = None) -> None:
        await _translated(
            lambda: self.bot.send_chat_action(chat_id=chat_id, action="typing", message_thread_id=thread_id)
        )
