"""What the bot says to people when something is not an answer: errors, refusals, hints.
English and Russian, chosen by the language of the person's message."""

from __future__ import annotations

import asyncio

from core.errors import BackendError, CoreError, LLMError, LLMRateLimited, LLMTimeout, LLMUnavailable
from core.text import detect_lang, tell_lang

__all__ = [
    "error_text",
    "lang_of",
    "reply_lang",
    "not_bound_text",
    "not_admin_text",
    "vote_ack_text",
    "working_text",
    "queued_text",
]

_TEXTS = {
    "en": {
        "timeout": "The language model took too long to answer, so I stopped waiting. Please try again in a minute.",
        "unavailable": "I cannot reach the language model right now. Please try again shortly; if it persists, tell an admin.",
        "busy": "The language model is overloaded right now. Please try again in a minute.",
        "shutdown": "The assistant is restarting, so this answer was stopped. Please ask again in a minute.",
        "internal": "Something went wrong on my side and I could not answer. The error is logged; please try again.",
        "prefix": "Sorry, I could not answer: ",
        "not_bound": (
            "This channel is not connected to a document space yet, so I have nothing to answer from. "
            "An admin can connect it with `{command}`."
        ),
        "not_admin": "Sorry, only ragbot admins can do that. Ask an admin if you need it.",
        "vote_up": "Thanks for the feedback!",
        "vote_down": "Thanks — noted. What was wrong with the answer?",
        "vote_reason": "Thanks, that helps us improve.",
        "vote_changed": "Your vote is updated.",
        "working": "Looking through the documents…",
        "queued": "Waiting for the model: {position} in the queue…",
    },
    "ru": {
        "timeout": "Языковая модель слишком долго отвечала, и я перестал ждать. Попробуйте ещё раз через минуту.",
        "unavailable": "Сейчас не получается связаться с языковой моделью. Попробуйте чуть позже; если не пройдёт — напишите администратору.",
        "busy": "Языковая модель сейчас перегружена. Попробуйте через минуту.",
        "shutdown": "Ассистент перезапускается, поэтому ответ прерван. Спросите ещё раз через минуту.",
        "internal": "У меня что-то сломалось, и ответить не получилось. Ошибка записана в журнал; попробуйте ещё раз.",
        "prefix": "Не получилось ответить: ",
        "not_bound": (
            "Этот канал ещё не подключён к пространству документов, поэтому отвечать не из чего. "
            "Администратор может подключить его командой `{command}`."
        ),
        "not_admin": "Извините, это могут делать только администраторы ragbot.",
        "vote_up": "Спасибо за отзыв!",
        "vote_down": "Спасибо, учтём. Что было не так с ответом?",
        "vote_reason": "Спасибо, это поможет улучшить ответы.",
        "vote_changed": "Ваш голос обновлён.",
        "working": "Ищу в документах…",
        "queued": "Жду модель: {position}-й в очереди…",
    },
}


def _t(lang: str, key: str) -> str:
    return _TEXTS.get(lang, _TEXTS["en"])[key]


def lang_of(text: str) -> str:
    return detect_lang(text) if text else "en"


def reply_lang(text: str, default: str | None = None) -> str:
    """The language to talk to a person in: their message's, when its words tell; else the
    channel's setting (``default``); else English. The answerer decides the answer's language the
    same way (core/answer/answerer.py)."""
    return tell_lang(text) or default or lang_of(text)


def error_text(error: BaseException, lang: str) -> str:
    """A short, human reason for a failed answer. CoreError messages are written for people
    already, except a failing backend's (a database or index down), which, like anything else, is
    an internal error whose details stay in the log."""
    if isinstance(error, asyncio.CancelledError):
        return _t(lang, "shutdown")
    if isinstance(error, LLMTimeout):
        return _t(lang, "timeout")
    if isinstance(error, LLMRateLimited):
        return _t(lang, "busy")
    if isinstance(error, LLMUnavailable):
        return _t(lang, "unavailable")
    if isinstance(error, BackendError) and not isinstance(error, LLMError):  # the database, an index
        return _t(lang, "internal")
    if isinstance(error, CoreError):
        return _t(lang, "prefix") + error.message
    return _t(lang, "internal")


def not_bound_text(lang: str, command: str) -> str:
    return _t(lang, "not_bound").format(command=command)


def not_admin_text(lang: str) -> str:
    return _t(lang, "not_admin")


def vote_ack_text(lang: str, value: int, *, changed: bool = False, with_reason: bool = False) -> str:
    if with_reason:
        return _t(lang, "vote_reason")
    if changed:
        return _t(lang, "vote_changed")
    return _t(lang, "vote_up" if value > 0 else "vote_down")


def working_text(lang: str) -> str:
    return _t(lang, "working")


def queued_text(lang: str, position: int) -> str:
    return _t(lang, "queued").format(position=position)
