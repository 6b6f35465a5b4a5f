"""How an answer streams into a Telegram chat (``ReplySink`` implementations).

- Private chats: message drafts (``sendMessageDraft``) show the answer as it grows; drafts are
  temporary previews, so the finished answer is then sent with ``sendMessage``.
- Groups: a placeholder message, replying to the question, is edited as the answer grows; the
  ``StreamingReply`` above decides when (at most once a second per chat, shared by every answer
  streaming there); the finished answer replaces it.

Both show "typing…" until the first words arrive, split answers longer than Telegram's 4,096
characters (the feedback keyboard goes under the last part), and resume rather than repeat
when ``RetryLater`` interrupts the final delivery."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import InlineKeyboardMarkup

from bot.chat.messages import queued_text, working_text
from bot.chat.ratelimit import TokenBucket
from bot.chat.streaming import RetryLater
from bot.telegram.feedback import verified_keyboard, vote_keyboard
from bot.telegram.html import escape, render_markdown, visible_text
from bot.telegram.outbox import MessageGone, Outbox
from bot.telegram.rendering import answer_parts, preview_html
from core.models import Answer

__all__ = ["TypingIndicator", "DraftSink", "PlaceholderSink", "TYPING_EVERY_S"]

log = logging.getLogger(__name__)

TYPING_EVERY_S = 4.0  # Telegram shows "typing…" for about 5 s per sendChatAction
_PLAIN_CHUNK = 4000


class TypingIndicator:
    """``sendChatAction(typing)`` every few seconds until stopped; best effort."""

    def __init__(
        self, outbox: Outbox, chat_id: int, thread_id: int | None = None, every_s: float = TYPING_EVERY_S
    ):
        self.outbox = outbox
        self.chat_id = chat_id
        self.thread_id = thread_id
        self.every_s = every_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"telegram-typing-{self.chat_id}")

    async def _run(self) -> None:
        while True:
            try:
                await self.outbox.typing(self.chat_id, self.thread_id)
            except RetryLater:
                return  # flood control: the answer matters more than the indicator
            except Exception as e:  # the indicator is a courtesy; it never fails an answer
                log.debug("telegram.typing_failed chat=%s error=%s", self.chat_id, type(e).__name__)
                return
            await asyncio.sleep(self.every_s)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class _TelegramSink:
    """What both kinds of sink share: typing, and the final delivery in parts."""

    def __init__(
        self,
        outbox: Outbox,
        chat_id: int,
        *,
        lang: str,
        bucket: TokenBucket,
        reply_to: int | None = None,
        thread_id: int | None = None,
    ) -> None:
        self.outbox = outbox
        self.chat_id = chat_id
        self.lang = lang
        self.bucket = bucket
        self.reply_to = reply_to
        self.thread_id = thread_id
        self.typing = TypingIndicator(outbox, chat_id, thread_id)
        self.message_ids: list[int] = []  # the final answer's messages, in order
        self._parts: list[str] | None = None
        self._failed_sent = False

    async def _send(self, markup: str, keyboard: InlineKeyboardMarkup | None = None) -> int:
        """Send one message of the final answer; a message Telegram refuses for any reason but a
        rate limit goes out again as plain text, so the words always arrive."""
        try:
            message = await self.outbox.send(
                self.chat_id, markup, reply_to=self.reply_to, thread_id=self.thread_id, keyboard=keyboard
            )
            return message.message_id
        except TelegramBadRequest as e:
            log.warning("telegram.send_refused chat=%s error=%s: sending plain text", self.chat_id, e.message)
        plain = visible_text(markup)
        chunks = [plain[i : i + _PLAIN_CHUNK] for i in range(0, len(plain), _PLAIN_CHUNK)] or ["…"]
        message_id = 0
        for i, chunk in enumerate(chunks):
            message = await self.outbox.send(
                self.chat_id,
                escape(chunk),
                reply_to=self.reply_to,
                thread_id=self.thread_id,
                keyboard=keyboard if i == len(chunks) - 1 else None,
            )
            message_id = message.message_id
        return message_id

    async def _deliver(self, answer: Answer, first: int | None = None) -> None:
        """Send the parts not yet delivered. ``first``: a message to turn into part one."""
        if self._parts is None:
            self._parts = answer_parts(answer)
        keyboard = (
            verified_keyboard(answer.answer_id, answer.lang)
            if answer.verified is not None
            else vote_keyboard(answer.answer_id)
        )
        for i in range(len(self.message_ids), len(self._parts)):
            last = i == len(self._parts) - 1
            if i > 0:
                await self.bucket.take()  # one message a second per chat, parts included
            markup, kb = self._parts[i], keyboard if last else None
            if i == 0 and first is not None:
                try:
                    await self.outbox.edit(self.chat_id, first, markup, keyboard=kb)
                    self.message_ids.append(first)
                    continue
                except MessageGone:
                    log.info("telegram.placeholder_gone chat=%s: sending the answer anew", self.chat_id)
                except TelegramBadRequest as e:
                    log.warning(
                        "telegram.edit_refused chat=%s error=%s: sending anew", self.chat_id, e.message
                    )
            self.message_ids.append(await self._send(markup, kb))

    async def finish(self, answer: Answer) -> None:
        await self.typing.stop()
        try:
            await self._deliver(answer, self._first_message())
        except TelegramForbiddenError as e:  # blocked or removed from the chat: nobody to tell
            log.warning("telegram.undeliverable chat=%s error=%s", self.chat_id, e.message)

    async def fail(self, text: str) -> None:
        await self.typing.stop()
        if self._failed_sent:
            return
        markup = render_markdown(text) or escape(text)  # errors may quote `commands`
        try:
            # a placeholder already showing part of the answer keeps it; the note goes below
            first = self._first_message() if not self.message_ids else None
            if first is not None:
                try:
                    await self.outbox.edit(self.chat_id, first, markup)
                    self._failed_sent = True
                    return
                except (MessageGone, TelegramBadRequest):
                    pass
            await self.outbox.send(self.chat_id, markup, reply_to=self.reply_to, thread_id=self.thread_id)
            self._failed_sent = True
        except TelegramForbiddenError as e:
            log.warning("telegram.undeliverable chat=%s error=%s", self.chat_id, e.message)

    def _first_message(self) -> int | None:
        return None


class DraftSink(_TelegramSink):
    """A private chat: drafts while streaming, then the final message."""

    def __init__(self, outbox: Outbox, chat_id: int, *, draft_id: int, **kwargs) -> None:  # noqa: ANN003
        super().__init__(outbox, chat_id, **kwargs)
        if draft_id == 0:
            raise ValueError("Telegram draft ids must be non-zero")
        self.draft_id = draft_id
        self._drafts = True  # turned off when this chat refuses drafts; the final message still goes

    async def _draft(self, markup: str) -> None:
        if not self._drafts:
            return
        try:
            await self.outbox.draft(self.chat_id, self.draft_id, markup)
        except TelegramBadRequest as e:
            self._drafts = False
            log.warning("telegram.drafts_refused chat=%s error=%s", self.chat_id, e.message)

    async def begin(self) -> None:
        self.typing.start()

    async def queued(self, position: int) -> None:
        await self._draft(escape(queued_text(self.lang, position)))

    async def progress(self, text: str) -> None:
        await self.typing.stop()
        await self._draft(preview_html(text, mark=False))


class PlaceholderSink(_TelegramSink):
    """A group: a placeholder reply edited as the answer grows, then turned into the answer."""

    def __init__(self, outbox: Outbox, chat_id: int, **kwargs) -> None:  # noqa: ANN003
        super().__init__(outbox, chat_id, **kwargs)
        self.placeholder: int | None = None

    def _first_message(self) -> int | None:
        return self.placeholder

    async def begin(self) -> None:
        self.typing.start()
        self.bucket.try_take()  # the placeholder is a message too: the first edit waits its turn
        message = await self.outbox.send(
            self.chat_id, escape(working_text(self.lang)), reply_to=self.reply_to, thread_id=self.thread_id
        )
        self.placeholder = message.message_id

    async def _show(self, markup: str) -> None:
        if self.placeholder is not None:
            try:
                await self.outbox.edit(self.chat_id, self.placeholder, markup)
                return
            except MessageGone:
                self.placeholder = None
        message = await self.outbox.send(
            self.chat_id, markup, reply_to=self.reply_to, thread_id=self.thread_id
        )
        self.placeholder = message.message_id

    async def queued(self, position: int) -> None:
        await self._show(escape(queued_text(self.lang, position)))

    async def progress(self, text: str) -> None:
        await self.typing.stop()
        await self._show(preview_html(text, mark=True))
