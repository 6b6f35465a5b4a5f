"""The conversation around a question, as the model reads it: the human messages of the thread
before the question, newest first within ANSWER_THREAD_CONTEXT_TOKENS, shown oldest first and
marked as conversation, never numbered like the sources it cites. Pure functions."""

from __future__ import annotations

from collections.abc import Sequence

from core.models import ConversationMessage
from core.text import WORD_RE, estimate_tokens

__all__ = ["fit_conversation", "render_conversation"]

_CUT = " […] "
_MIN_PART_TOKENS = 40  # a message cut shorter than this says nothing: it is left out instead


def _cut(text: str, budget: int) -> str:
    """``text`` shortened to about ``budget`` tokens, keeping its head and its tail: a stack trace
    names the error at the top, a log shows it at the end."""
    units = WORD_RE.findall(text)
    keep = max(int(budget / 1.3) - 2, 2)  # estimate_tokens counts 1.3 tokens per unit
    if len(units) <= keep:
        return text
    head_units, tail_units = units[: keep // 2], units[-(keep - keep // 2) :]
    # find the same units in the original text, so the kept parts keep their spacing and lines
    head_end = _position_after(text, head_units, 0)
    tail_start = _position_of_tail(text, tail_units)
    if head_end is None or tail_start is None or tail_start <= head_end:
        return " ".join(head_units) + _CUT + " ".join(tail_units)
    return text[:head_end].rstrip() + _CUT + text[tail_start:].lstrip()


def _position_after(text: str, units: list[str], start: int) -> int | None:
    pos = start
    for unit in units:
        found = text.find(unit, pos)
        if found < 0:
            return None
        pos = found + len(unit)
    return pos


def _position_of_tail(text: str, units: list[str]) -> int | None:
    pos = len(text)
    for unit in reversed(units):
        found = text.rfind(unit, 0, pos)
        if found < 0:
            return None
        pos = found
    return pos


def fit_conversation(messages: Sequence[ConversationMessage], budget: int) -> list[ConversationMessage]:
    """The newest messages that fit ``budget`` tokens, oldest first. The newest one that does not
    fit whole is cut to the room left (head and tail), and nothing older is taken: the model reads
    a contiguous end of the conversation."""
    chosen: list[ConversationMessage] = []
    left = budget
    for message in reversed(messages):
        text = message.text.strip()
        if not text:
            continue
        cost = estimate_tokens(f"{message.author}: {text}")
        if cost <= left:
            chosen.append(ConversationMessage(message.author, text))
            left -= cost
            continue
        room = left - estimate_tokens(f"{message.author}:")
        if room >= _MIN_PART_TOKENS:
            chosen.append(ConversationMessage(message.author, _cut(text, room)))
        break
    chosen.reverse()
    return chosen


def render_conversation(messages: Sequence[ConversationMessage]) -> str:
    """One line (or block) per message: ``author: text``."""
    return "\n".join(f"{m.author}: {m.text}" for m in messages)
