"""How an answer from a verified answer is marked in chat, and the "did not help" button under it
(docs/feedback.md). Platform-neutral: Slack and Telegram render these words their own way.

A verified answer says who vouched for it and when, and, when the person asked in other words
(or another language), the question it was written for: a mismatch is then plain to see, and
"did not help" gets a generated answer at once."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Answer
from core.text import normalise_question

__all__ = [
    "FALLBACK_PREFIX",
    "FallbackAction",
    "encode_fallback",
    "decode_fallback",
    "author_label",
    "verified_note",
    "did_not_help_label",
    "fallback_notice",
]

FALLBACK_PREFIX = "fv"  # "fv:<answer_id>": did not help, answer again without verified answers

_TEXTS = {
    "en": {
        "verified": "✅ **Verified answer** by {author}, {date}",
        "to": "written for the question “{question}”",
        "other_lang": "in Russian",
        "button": "🔄 Did not help",
        "notice": "Here is an answer from the documents instead:",
    },
    "ru": {
        "verified": "✅ **Проверенный ответ**, автор {author}, {date}",
        "to": "написан для вопроса «{question}»",
        "other_lang": "на английском",
        "button": "🔄 Не помогло",
        "notice": "Вот ответ по документам:",
    },
}

_MONTHS = {
    "en": ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
    "ru": ["янв", "фев", "мар", "апр", "мая", "июн", "июл", "авг", "сен", "окт", "ноя", "дек"],
}


def _t(lang: str, key: str) -> str:
    return _TEXTS.get(lang, _TEXTS["en"])[key]


@dataclass(frozen=True)
class FallbackAction:
    answer_id: str


def encode_fallback(answer_id: str) -> str:
    return f"{FALLBACK_PREFIX}:{answer_id}"


def decode_fallback(data: str) -> FallbackAction | None:
    """None for anything that is not a well-formed payload (forged or stale)."""
    prefix, _, answer_id = (data or "").partition(":")
    if prefix != FALLBACK_PREFIX or not (1 <= len(answer_id) <= 32 and answer_id.isalnum()):
        return None
    return FallbackAction(answer_id)


def author_label(author: str) -> str:
    """'console:alice' -> 'alice'; platform ids are shown as they are ('slack:U123' -> 'U123'):
    a mention would notify the author every time the answer is served."""
    return author.split(":", 1)[1] if ":" in author else author


def verified_note(answer: Answer) -> str | None:
    """One Markdown line saying whose verified answer this is (None for a generated answer)."""
    verified = answer.verified
    if verified is None:
        return None
    lang = "ru" if answer.lang == "ru" else "en"
    when = verified.created_at
    date = f"{when.day} {_MONTHS[lang][when.month - 1]} {when.year}"
    line = _t(lang, "verified").format(author=author_label(verified.author), date=date)
    details = []
    if normalise_question(verified.question) != normalise_question(answer.question):
        details.append(_t(lang, "to").format(question=verified.question))
    if verified.lang != answer.lang:
        details.append(_t(lang, "other_lang"))
    return line + (" — " + ", ".join(details) if details else "")


def did_not_help_label(lang: str) -> str:
    return _t(lang, "button")


def fallback_notice(lang: str) -> str:
    return _t(lang, "notice")
