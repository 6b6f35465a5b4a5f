"""Feedback in Telegram: the 👍 / 👎 inline keyboard under an answer, the quick reasons that
replace it after a 👎, and the "what was wrong?" prompts awaiting a free-text reason.

Button payloads come from ``bot.chat.feedback.encode`` (well under Telegram's 64-byte
``callback_data`` limit). Pending prompts live in this process only: a reason typed after a
restart is taken as an ordinary message, which is the harmless way to lose it."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.chat.feedback import REASONS, FeedbackAction, encode, reason_label
from bot.chat.verified import FALLBACK_PREFIX, did_not_help_label, encode_fallback

__all__ = [
    "vote_keyboard",
    "reasons_keyboard",
    "verified_keyboard",
    "is_verified_keyboard",
    "PendingReason",
    "PendingReasons",
    "CALLBACK_LIMIT",
]

CALLBACK_LIMIT = 64  # bytes of callback_data Telegram accepts


def _button(text: str, action: FeedbackAction) -> InlineKeyboardButton:
    data = encode(action)
    if len(data.encode()) > CALLBACK_LIMIT:  # answer ids are short; this guards the contract
        raise ValueError(f"callback_data of {len(data.encode())} bytes exceeds Telegram's {CALLBACK_LIMIT}")
    return InlineKeyboardButton(text=text, callback_data=data)


def vote_keyboard(answer_id: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button("👍", FeedbackAction(answer_id, 1)), _button("👎", FeedbackAction(answer_id, -1))]
        ]
    )


def verified_keyboard(answer_id: str, lang: str) -> InlineKeyboardMarkup:
    """Under an answer from a verified answer: 👍, and "did not help" (a generated answer follows)."""
    fallback = InlineKeyboardButton(text=did_not_help_label(lang), callback_data=encode_fallback(answer_id))
    return InlineKeyboardMarkup(inline_keyboard=[[_button("👍", FeedbackAction(answer_id, 1)), fallback]])


def is_verified_keyboard(markup: InlineKeyboardMarkup | None) -> bool:
    rows = markup.inline_keyboard if markup is not None else []
    return any((b.callback_data or "").startswith(f"{FALLBACK_PREFIX}:") for row in rows for b in row)


def reasons_keyboard(answer_id: str, lang: str) -> InlineKeyboardMarkup:
    """The quick reasons, two per row, and a 👍 to change one's mind."""
    buttons = [_button(reason_label(code, lang), FeedbackAction(answer_id, -1, code)) for code in REASONS]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append([_button("👍", FeedbackAction(answer_id, 1))])
    return InlineKeyboardMarkup(inline_keyboard=rows)


@dataclass(frozen=True)
class PendingReason:
    answer_id: str
    user_id: int
    lang: str
    code: str | None = None  # a quick reason already chosen, kept with the free text


class PendingReasons:
    """Prompt message (chat, message id) -> whose reason it awaits; bounded, expiring."""

    def __init__(
        self, ttl_s: float = 24 * 3600, max_size: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self.max_size = max_size
        self._clock = clock
        self._prompts: OrderedDict[tuple[int, int], tuple[float, PendingReason]] = OrderedDict()

    def add(self, chat_id: int, prompt_id: int, pending: PendingReason) -> None:
        self._prompts[(chat_id, prompt_id)] = (self._clock(), pending)
        while len(self._prompts) > self.max_size:
            self._prompts.popitem(last=False)

    def _live(self) -> None:
        now = self._clock()
        while self._prompts:
            key, (at, _) = next(iter(self._prompts.items()))
            if now - at < self.ttl_s:
                break
            del self._prompts[key]

    def get(self, chat_id: int, prompt_id: int) -> PendingReason | None:
        self._live()
        found = self._prompts.get((chat_id, prompt_id))
        return found[1] if found else None

    def find(self, chat_id: int, answer_id: str, user_id: int) -> int | None:
        """The prompt already waiting for this person's reason about this answer, if any."""
        self._live()
        for (chat, prompt_id), (_, p) in self._prompts.items():
            if chat == chat_id and p.answer_id == answer_id and p.user_id == user_id:
                return prompt_id
        return None

    def set_code(self, chat_id: int, prompt_id: int, code: str) -> None:
        found = self._prompts.get((chat_id, prompt_id))
        if found:
            at, p = found
            self._prompts[(chat_id, prompt_id)] = (at, PendingReason(p.answer_id, p.user_id, p.lang, code))

    def pop(self, chat_id: int, prompt_id: int) -> PendingReason | None:
        found = self._prompts.pop((chat_id, prompt_id), None)
        return found[1] if found else None
