"""The prompt: answer only from the numbered context, cite it as [n], say plainly when the
documents do not hold the answer, and answer in the question's language. Pure functions.

The instructions are written in the language of the question: small models follow "answer in
Russian" far more reliably when the instructions themselves are Russian."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from core.answer.context import ContextItem
from core.models import ChatMessage, Turn

__all__ = ["Phrases", "PHRASES", "build_messages", "cited_numbers", "is_decline"]


@dataclass(frozen=True)
class Phrases:
    system: str
    context_header: str
    question_header: str
    reply_in: str  # the last line of the user message: small models follow it better than the system prompt
    not_found: str  # the exact sentence the model is told to use when the context lacks the answer
    cut_off: str  # appended when the model stops mid-answer; {reason} is filled in
    no_documents: str  # the space has nothing indexed


PHRASES: dict[str, Phrases] = {
    "en": Phrases(
        system=(
            "You are a team assistant. Answer the question using ONLY the numbered context passages.\n"
            "Rules:\n"
            "- Cite the passages you use with their numbers in square brackets, like [1] or [2][3].\n"
            "- If the context does not contain the answer, reply exactly: \"{not_found}\"\n"
            "- Do not invent facts, commands or links that are not in the context.\n"
            "- Answer in English, concisely; use short lists or code blocks when they help."
        ),
        context_header="Context:",
        question_header="Question:",
        reply_in="Answer in English and cite the passages you use by their numbers, like [1].",
        not_found="I could not find the answer in the documents.",
        cut_off="(The answer was cut off: {reason})",
        no_documents="This space has no documents yet, so there is nothing to answer from. An admin can add some.",
    ),
    "ru": Phrases(
        system=(
            "Ты помощник команды. Отвечай на вопрос, используя ТОЛЬКО пронумерованные фрагменты контекста.\n"
            "Правила:\n"
            "- Ссылайся на использованные фрагменты их номерами в квадратных скобках, например [1] или [2][3].\n"
            "- Если в контексте нет ответа, ответь ровно так: \"{not_found}\"\n"
            "- Не придумывай факты, команды и ссылки, которых нет в контексте.\n"
            "- Отвечай по-русски, кратко; используй короткие списки или блоки кода, когда это помогает."
        ),
        context_header="Контекст:",
        question_header="Вопрос:",
        reply_in="Ответь на русском языке и укажи номера использованных фрагментов, например [1].",
        not_found="В документах нет ответа на этот вопрос.",
        cut_off="(Ответ оборван: {reason})",
        no_documents="В этом пространстве пока нет документов, отвечать не из чего. Администратор может их добавить.",
    ),
}


def build_messages(
    question: str, items: Sequence[ContextItem], *, lang: str, history: Sequence[Turn] = ()
) -> list[ChatMessage]:
    phrases = PHRASES.get(lang, PHRASES["en"])
    context = "\n\n".join(f"[{item.n}] {item.chunk.section}\n{item.chunk.text}" for item in items)
    messages = [ChatMessage("system", phrases.system.format(not_found=phrases.not_found))]
    for turn in history:
        messages.append(ChatMessage("assistant" if turn.role == "assistant" else "user", turn.text))
    messages.append(
        ChatMessage(
            "user",
            f"{phrases.context_header}\n{context}\n\n{phrases.question_header} {question}\n\n{phrases.reply_in}",
        )
    )
    return messages


_CITATION = re.compile(r"\[(\d{1,2}(?:\s*[,;]\s*\d{1,2})*)\]")


def cited_numbers(text: str, available: int) -> set[int]:
    """Numbers cited as [n], [n, m] or [n][m] that refer to a context passage."""
    found: set[int] = set()
    for group in _CITATION.findall(text):
        for part in re.split(r"[,;]", group):
            n = int(part.strip())
            if 1 <= n <= available:
                found.add(n)
    return found


def _fold(text: str) -> str:
    return re.sub(r"[\W_]+", " ", text.casefold()).strip()


def is_decline(text: str) -> bool:
    """The answer is (or starts with) one of the 'not in the documents' sentences."""
    head = _fold(text)[:200]
    return any(_fold(p.not_found) in head for p in PHRASES.values())
