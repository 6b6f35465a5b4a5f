"""The prompt: answer only from the numbered passages, cite them as [n], keep it short, say
plainly when the documents do not hold the answer, and answer in the question's language. Pure.

**One system text for every question.** llama.cpp (``cache_prompt``) and vLLM (prefix caching)
skip the prefill of a prompt's beginning when it repeats the previous one's, so the fixed rules go
first, in one text for both languages and for the whole deployment (its only variable is the word
limit, set by LLM_MAX_TOKENS), and everything that changes (history, passages, question) after
them. The language is asked for twice: a rule in the system text, and the user message's last line
in the question's own language, which the embedded 1.5B model follows best (docs/answering.md).

**Wording**, tried on the embedded default (qwen2.5-coder-1.5b) with the demo questions and the dev
questions of the eval sets: a plain "if the context does not contain the answer, reply exactly
..." made it decline questions whose answer was passage [1]; saying that the answer is usually
there, and that the sentence is for questions unrelated to the passages, kept both the answers
and the declines of off-topic questions. A one-line example of a citation got [n] into the text
instead of bare "[1]" replies. Asking for a word limit sized to LLM_MAX_TOKENS, and to cite a
passage rather than copy it, keeps answers inside the limit (``core.answer.ending`` handles the
rest)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from core.answer.context import ContextItem
from core.answer.conversation import render_conversation
from core.models import ChatMessage, ConversationMessage, Turn

__all__ = [
    "Phrases",
    "PHRASES",
    "system_prompt",
    "answer_words",
    "build_messages",
    "cited_numbers",
    "is_decline",
    "has_note",
    "without_note",
]


@dataclass(frozen=True)
class Phrases:
    context_header: str
    question_header: str
    reply_in: str  # the last line of the user message: small models follow it better than the system prompt
    insist: str  # the last line instead, when a first answer came in the other language
    not_found: str  # the exact sentence the model is told to use when the context lacks the answer
    cut_off: str  # appended when the model fails mid-answer; {reason} is filled in
    shortened: str  # appended when the answer reached LLM_MAX_TOKENS and was ended at its last sentence
    no_documents: str  # the space has nothing indexed
    # above the thread's messages: what "this" in the question refers to, never a source to cite
    conversation_header: str = ""


PHRASES: dict[str, Phrases] = {
    "en": Phrases(
        context_header="Passages:",
        question_header="Question:",
        reply_in="Answer the question in English from the passages above, citing them like [1].",
        insist="Answer in English only (not in Russian), from the passages above, citing them like [1].",
        not_found="I could not find the answer in the documents.",
        cut_off="(The answer was cut off: {reason})",
        shortened="(The answer was shortened to fit its length limit: ask about one part of it for more.)",
        no_documents="This space has no documents yet, so there is nothing to answer from. An admin can add some.",
        conversation_header=(
            "The conversation the question was asked in (what the question refers to; "
            "not a source: do not cite it):"
        ),
    ),
    "ru": Phrases(
        context_header="Фрагменты:",
        question_header="Вопрос:",
        reply_in="Ответь на вопрос по-русски по фрагментам выше, ставя ссылки вида [1].",
        insist="Отвечай только на русском языке (не на английском), по фрагментам выше, ставя ссылки вида [1].",
        not_found="В документах нет ответа на этот вопрос.",
        cut_off="(Ответ оборван: {reason})",
        shortened="(Ответ сокращён до предела длины: спросите об одной его части, чтобы узнать больше.)",
        no_documents="В этом пространстве пока нет документов, отвечать не из чего. Администратор может их добавить.",
        conversation_header=(
            "Переписка, в которой задан вопрос (к ней относится вопрос; это не источник: не ссылайся на неё):"
        ),
    ),
}

_SYSTEM = (
    "You are a team assistant. You answer questions from the numbered passages of the team's documents.\n"
    "- Answer in the language of the question: a question in Russian gets an answer in Russian, a "
    "question in English an answer in English, whatever the language of the passages.\n"
    "- Begin with one sentence that answers the question; then, only if needed, the details: a short "
    "list or the commands from the passages. Keep the whole answer under {words} words.\n"
    "- After each statement put the number of its passage in square brackets, for example: "
    '"The module is enabled with a ModuleConfig resource [2]." Do not copy a passage whole: retell it '
    "and cite it. Copy commands and configuration exactly, in code blocks.\n"
    "- Use only what the passages say. Usually the answer is in them: find it and retell it in your own "
    "words. Only if the question has nothing to do with the passages (the weather, sports), reply: "
    '"{not_found_en}" (to a question in Russian: "{not_found_ru}")'
)


def answer_words(max_tokens: int) -> int:
    """The word limit the prompt asks for: a quarter of the token limit leaves room for Russian
    (2-3 tokens a word for the Qwen tokenizer), citations and a code block."""
    return max(30, max_tokens // 4)


def system_prompt(max_tokens: int) -> str:
    """The fixed first message: the same for every question of a deployment (see the docstring)."""
    return _SYSTEM.format(
        words=answer_words(max_tokens),
        not_found_en=PHRASES["en"].not_found,
        not_found_ru=PHRASES["ru"].not_found,
    )


def build_messages(
    question: str,
    items: Sequence[ContextItem],
    *,
    lang: str,
    max_tokens: int,
    history: Sequence[Turn] = (),
    conversation: Sequence[ConversationMessage] = (),
    insist: bool = False,
) -> list[ChatMessage]:
    """System text, the conversation so far, then one user message: passages, the thread's
    messages, the question, and a last line asking for the question's language (``insist``:
    firmly, after an answer in the other one). ``conversation``: the thread's messages already
    fitted to their budget (``core.answer.conversation.fit_conversation``); they go between the
    numbered passages and the question, under their own header, so the model reads them as what
    the question is about rather than as something to cite."""
    phrases = PHRASES.get(lang, PHRASES["en"])
    context = "\n\n".join(f"[{item.n}] {item.section}\n{item.text}" for item in items)
    messages = [ChatMessage("system", system_prompt(max_tokens))]
    for turn in history:
        messages.append(ChatMessage("assistant" if turn.role == "assistant" else "user", turn.text))
    thread = f"{phrases.conversation_header}\n{render_conversation(conversation)}\n\n" if conversation else ""
    messages.append(
        ChatMessage(
            "user",
            f"{phrases.context_header}\n{context}\n\n{thread}{phrases.question_header} {question}\n\n"
            + (phrases.insist if insist else phrases.reply_in),
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


def without_note(text: str) -> str:
    """The answer without the note that it was shortened or cut off (in either language)."""
    cut = len(text)
    for p in PHRASES.values():
        for note in (p.shortened, p.cut_off.split("{")[0]):
            at = text.rfind(note)
            if at != -1 and len(text) - at <= len(note) + 300:
                cut = min(cut, at)
    return text[:cut].rstrip()


def has_note(text: str) -> bool:
    """The answer ends with the note that it was shortened or cut off (in either language)."""
    return without_note(text) != text.rstrip()
