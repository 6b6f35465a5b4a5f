"""The prompt: answer only from the numbered context, cite it as [n], say plainly when the
documents do not hold the answer, and answer in the question's language. Pure functions.

The instructions are written in the language of the question: small models follow "answer in
Russian" far more reliably when the instructions themselves are Russian. The wording was chosen by
trying variants on the embedded default (qwen2.5-coder-1.5b) with the demo questions: a plain
"if the context does not contain the answer, reply exactly ..." made it decline Russian questions
whose answer was passage [1]; saying that the answer is usually there, and that the sentence is
for questions unrelated to the passages, kept both the answers and the declines of off-topic
questions. A one-line example of a citation got [n] into the text instead of bare "[1]" replies."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from core.answer.context import ContextItem
from core.answer.conversation import render_conversation
from core.models import ChatMessage, ConversationMessage, Turn

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
    # above the thread's messages: what "this" in the question refers to, never a source to cite
    conversation_header: str = ""


PHRASES: dict[str, Phrases] = {
    "en": Phrases(
        system=(
            "You are a team assistant. Answer the question from the numbered context passages.\n"
            "Write in English. Begin with one sentence that answers the question and cites its passage; "
            "then, if needed, the details: a short list or the commands from the context. After each "
            "statement put the number of its passage in square brackets, for example: "
            '"The module is enabled with a ModuleConfig resource [2]."\n'
            "Use only what the context says. Usually the answer is in the passages: find it and retell it in "
            "your own words. Only if the question has nothing to do with the passages (the weather, sports), "
            'reply: "{not_found}"'
        ),
        context_header="Context:",
        question_header="Question:",
        reply_in="Answer the question in English from the passages above, citing them like [1].",
        not_found="I could not find the answer in the documents.",
        cut_off="(The answer was cut off: {reason})",
        no_documents="This space has no documents yet, so there is nothing to answer from. An admin can add some.",
        conversation_header=(
            "The conversation the question was asked in (what the question refers to; "
            "not a source: do not cite it):"
        ),
    ),
    "ru": Phrases(
        system=(
            "Ты помощник команды. Отвечай на вопрос по пронумерованным фрагментам контекста.\n"
            "Пиши по-русски. Начни с одного предложения, которое отвечает на вопрос и ссылается на "
            "фрагмент; затем, если нужно, подробности: короткий список или команды из контекста. После "
            "каждого утверждения ставь номер фрагмента в квадратных скобках, например: "
            "«Модуль включается ресурсом ModuleConfig [2].»\n"
            "Используй только сведения из контекста. Обычно ответ есть во фрагментах: найди его и перескажи "
            "своими словами. Только если вопрос совсем не связан с фрагментами (например, о погоде или спорте), "
            "ответь: «{not_found}»"
        ),
        context_header="Контекст:",
        question_header="Вопрос:",
        reply_in="Ответь на вопрос по-русски по фрагментам выше, ставя ссылки вида [1].",
        not_found="В документах нет ответа на этот вопрос.",
        cut_off="(Ответ оборван: {reason})",
        no_documents="В этом пространстве пока нет документов, отвечать не из чего. Администратор может их добавить.",
        conversation_header=(
            "Переписка, в которой задан вопрос (к ней относится вопрос; это не источник: не ссылайся на неё):"
        ),
    ),
}


def build_messages(
    question: str,
    items: Sequence[ContextItem],
    *,
    lang: str,
    history: Sequence[Turn] = (),
    conversation: Sequence[ConversationMessage] = (),
) -> list[ChatMessage]:
    """``conversation``: the thread's messages already fitted to their budget
    (``core.answer.conversation.fit_conversation``); they go between the numbered passages and
    the question, under their own header, so the model reads them as what the question is about
    rather than as something to cite."""
    phrases = PHRASES.get(lang, PHRASES["en"])
    context = "\n\n".join(f"[{item.n}] {item.chunk.section}\n{item.chunk.text}" for item in items)
    messages = [ChatMessage("system", phrases.system.format(not_found=phrases.not_found))]
    for turn in history:
        messages.append(ChatMessage("assistant" if turn.role == "assistant" else "user", turn.text))
    thread = f"{phrases.conversation_header}\n{render_conversation(conversation)}\n\n" if conversation else ""
    messages.append(
        ChatMessage(
            "user",
            f"{phrases.context_header}\n{context}\n\n{thread}{phrases.question_header} {question}"
            f"\n\n{phrases.reply_in}",
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
