"""The conversation around a Telegram question (docs/chat.md): the message it replies to, and in
groups the recent messages the bot has seen there.

The Bot API has no way to read a chat's history: a bot knows only the updates it received. In a
group with privacy mode on (BotFather's default) those are commands, mentions of the bot and
replies to it, so "recent messages" are the questions asked of it; with ``/setprivacy`` off the
bot sees every message and the discussion above a mention reaches the model. Kept in memory, per
process: after a restart, or on another replica of a webhook deployment, the buffer starts empty
(the reply a question quotes is in the update itself and always counts)."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass

from aiogram.types import Message, User

from core.models import ConversationMessage

__all__ = ["RecentMessages", "Seen", "author_of", "RECENT_WINDOW_S", "RECENT_PER_CHAT"]

RECENT_PER_CHAT = 50  # messages kept per chat (and forum topic)
RECENT_WINDOW_S = 30 * 60  # older messages belong to another conversation


@dataclass(frozen=True)
class Seen:
    message_id: int
    author: str
    text: str
    at: float


def author_of(user: User | None) -> str:
    """How the model is shown who wrote a message: a first name is enough to tell people apart."""
    if user is None:
        return "someone"
    return user.username and f"@{user.username}" or user.first_name or str(user.id)


class RecentMessages:
    def __init__(
        self,
        *,
        per_chat: int = RECENT_PER_CHAT,
        window_s: float = RECENT_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window_s = window_s
        self._clock = clock
        self._chats: dict[tuple[int, int | None], deque[Seen]] = defaultdict(lambda: deque(maxlen=per_chat))

    def note(self, message: Message, text: str) -> None:
        """Remember a group message the bot received (its text without a mention of the bot)."""
        if text.strip():
            key = (message.chat.id, message.message_thread_id if message.is_topic_message else None)
            self._chats[key].append(
                Seen(message.message_id, author_of(message.from_user), text, self._clock())
            )

    def before(self, message: Message) -> list[ConversationMessage]:
        """The messages seen in ``message``'s chat (and topic) before it, within the window,
        oldest first."""
        key = (message.chat.id, message.message_thread_id if message.is_topic_message else None)
        now = self._clock()
        return [
            ConversationMessage(s.author, s.text)
            for s in self._chats.get(key, ())
            if s.message_id < message.message_id and now - s.at <= self.window_s
        ]
