"""What every Telegram handler needs, in one object the dispatcher injects (``ctx``): the bot,
the service, the sender, the rate budgets, and the few decisions several handlers share —
who is an admin, which space a chat answers from, whether a group message is meant for us."""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field

from aiogram import Bot
from aiogram.enums import ChatType, MessageEntityType
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError
from aiogram.types import Chat, ForceReply, Message, User

from bot.chat.conversation import Conversation
from bot.chat.ratelimit import RateLimits
from bot.chat.streaming import RetryLater
from bot.console import SignInLinks
from bot.settings import TelegramSettings
from bot.telegram.keyboards import PendingReasons
from bot.telegram.outbox import Outbox
from bot.telegram.recent import RecentMessages
from bot.telegram.rendering import markdown_parts
from core.models import Binding
from core.service import RagService

__all__ = [
    "BotContext",
    "PLATFORM",
    "TELEGRAM_DOWNLOAD_LIMIT",
    "REPLY_PATIENCE_S",
    "ui_lang",
    "is_private",
    "topic_of",
]

log = logging.getLogger(__name__)

PLATFORM = "telegram"
TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024  # getFile serves bots files of up to 20 MB

_GROUP_ADMIN = {"creator", "administrator"}
REPLY_PATIENCE_S = 120.0  # how long a hint or command reply waits out flood control


def ui_lang(user: User | None) -> str:
    """The language for texts around commands and files (no question text to go by)."""
    code = (user.language_code or "") if user else ""
    return "ru" if code.lower().startswith(("ru", "uk", "be", "kk")) else "en"


def is_private(chat: Chat) -> bool:
    return chat.type == ChatType.PRIVATE


@dataclass
class BotContext:
    bot: Bot
    service: RagService
    settings: TelegramSettings
    outbox: Outbox
    limits: RateLimits
    conversation: Conversation
    max_file_bytes: int
    pending: PendingReasons = field(default_factory=PendingReasons)
    console: SignInLinks | None = None  # the admin console's sign-in links (/console)
    answering: set[asyncio.Task] = field(default_factory=set)  # update tasks streaming an answer
    recent: RecentMessages = field(default_factory=RecentMessages)  # group messages seen (docs/chat.md)

    async def me(self) -> User:
        return await self.bot.me()  # cached by aiogram after the first getMe

    # -- who may do what -----------------------------------------------------------------------

    async def is_admin(self, user: User | None, chat: Chat | None = None) -> bool:
        """Configured admins, admins in the store, and a group's own administrators for
        commands about their group."""
        if user is None:
            return False
        if user.id in self.settings.admin_user_ids:
            return True
        if await self.service.is_admin(PLATFORM, str(user.id)):
            return True
        if chat is not None and chat.type in (ChatType.GROUP, ChatType.SUPERGROUP):
            try:
                member = await self.bot.get_chat_member(chat.id, user.id)
            except TelegramAPIError as e:
                log.warning(
                    "telegram.chat_member_failed chat=%s user=%s error=%s", chat.id, user.id, e.message
                )
                return False
            return member.status in _GROUP_ADMIN
        return False

    # -- where questions go ----------------------------------------------------------------------

    def dm_choices(self) -> list[str]:
        """Spaces anyone may choose for a private chat: TELEGRAM_DM_SPACES and the default."""
        choices = list(dict.fromkeys(self.settings.dm_spaces))
        if self.settings.default_space and self.settings.default_space not in choices:
            choices.append(self.settings.default_space)
        return choices

    async def binding_of(self, chat: Chat) -> Binding | None:
        """The chat's binding: its space and settings (mode, visibility, type, language)."""
        return await self.service.binding_for(PLATFORM, str(chat.id))

    async def space_of(self, chat: Chat) -> str | None:
        """The space a chat answers from: its binding (for a private chat, the person's /space
        choice, checked when it was made), else in private chats TELEGRAM_DEFAULT_SPACE."""
        binding = await self.service.binding_for(PLATFORM, str(chat.id))
        if binding is not None:
            return binding.space_id
        return self.settings.default_space if is_private(chat) else None

    async def addressed(self, message: Message) -> tuple[bool, str]:
        """Whether a group message is for the bot (mentions it or replies to it), and its text
        without the mention."""
        me = await self.me()
        text = message.text or message.caption or ""
        mentioned = False
        if me.username:
            pattern = re.compile(rf"@{re.escape(me.username)}\b", re.IGNORECASE)
            mentioned = bool(pattern.search(text))
            text = pattern.sub(" ", text)
        for entity in message.entities or message.caption_entities or ():
            if entity.type == MessageEntityType.TEXT_MENTION and entity.user and entity.user.id == me.id:
                mentioned = True
        reply = message.reply_to_message
        replied = bool(reply and reply.from_user and reply.from_user.id == me.id)
        text = re.sub(r"\s+", " ", text).strip().lstrip(",:").strip()
        return mentioned or replied, text

    async def thread_of(self, message: Message) -> str:
        """A reply to one of the bot's answers continues that answer's conversation; anything
        else starts a conversation rooted at this message."""
        reply = message.reply_to_message
        if reply is not None and reply.from_user is not None and reply.from_user.id == self.bot.id:
            thread = await self.service.thread_of_message(
                PLATFORM, str(message.chat.id), str(reply.message_id)
            )
            if thread:
                return thread
        return str(message.message_id)

    # -- replies ---------------------------------------------------------------------------------

    async def reply(
        self, message: Message, markup: str, *, keyboard: ForceReply | None = None
    ) -> Message | None:
        """A reply in Telegram HTML (texts from ``bot.telegram.texts``, values escaped). It waits
        its turn in the chat's budget and out a rate limit (up to ``REPLY_PATIENCE_S``); None when
        it could not be sent at all."""
        bucket = self.limits[str(message.chat.id)]
        deadline = asyncio.get_running_loop().time() + REPLY_PATIENCE_S
        while True:
            await bucket.take()
            try:
                return await self.outbox.send(
                    message.chat.id,
                    markup,
                    reply_to=message.message_id,
                    thread_id=topic_of(message),
                    keyboard=keyboard,
                )
            except RetryLater as e:
                bucket.block_for(e.seconds)
                if asyncio.get_running_loop().time() + e.seconds > deadline:
                    log.error(
                        "telegram.reply_lost chat=%s: rate limited for %.0f s", message.chat.id, e.seconds
                    )
                    return None
            except TelegramForbiddenError as e:
                log.warning("telegram.undeliverable chat=%s error=%s", message.chat.id, e.message)
                return None

    async def reply_markdown(self, message: Message, text: str) -> None:
        """A reply written in Markdown (command output), split when long."""
        for part in markdown_parts(text):
            await self.reply(message, part)


def topic_of(message: Message) -> int | None:
    """The forum topic a message belongs to, so that replies stay in it."""
    return message.message_thread_id if message.is_topic_message else None
