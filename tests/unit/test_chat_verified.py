"""The verified mark as people read it, and the "did not help" payload (bot/chat/verified.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.chat.verified import decode_fallback, encode_fallback, verified_note
from core.models import Answer, Timings, VerifiedAnswer


def _answer(question: str, lang: str, verified: VerifiedAnswer | None) -> Answer:
    text = verified.text if verified else "generated"
    return Answer("a1", question, "ops", text, (), lang, "verified", Timings(), verified=verified)


def _verified(
    question: str = "How do I rotate the API keys?", lang: str = "en", author: str = "slack:U0DANA"
):
    return VerifiedAnswer(
        "v1", "ops", question, "Use the portal.", (), author, datetime(2026, 3, 9, 8, 0, tzinfo=UTC), lang
    )


def test_the_same_wording_names_who_and_when_only():
    note = verified_note(_answer("how do I rotate the API keys", "en", _verified()))
    assert note == "✅ **Verified answer** by U0DANA, 9 Mar 2026"


def test_other_words_show_the_question_it_was_written_for():
    note = verified_note(_answer("What is the way to rotate API keys?", "en", _verified(author="cli:dana")))
    assert note == (
        "✅ **Verified answer** by dana, 9 Mar 2026 — written for the question “How do I rotate the API keys?”"
    )


def test_a_russian_asker_reads_it_in_russian_and_learns_the_answer_is_in_english():
    note = verified_note(_answer("Как повернуть ключи API?", "ru", _verified()))
    assert note.startswith(
        "✅ **Проверенный ответ**, автор U0DANA, 9 мар 2026 — написан для вопроса «How do I"
    )
    assert note.endswith(", на английском")


def test_a_generated_answer_has_no_mark():
    assert verified_note(_answer("q", "en", None)) is None


@pytest.mark.parametrize("data", ["fv:", "fv:not-alnum!", "fb:+:abc", "fv:" + "a" * 33, "", "fvabc"])
def test_forged_or_stale_payloads_are_refused(data):
    assert decode_fallback(data) is None


def test_a_payload_round_trips_within_telegrams_64_bytes():
    data = encode_fallback("0123456789abcdef")
    assert decode_fallback(data).answer_id == "0123456789abcdef" and len(data.encode()) <= 64
