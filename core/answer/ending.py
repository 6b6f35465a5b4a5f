"""Answers that end well: what to stream while the model writes, and where to end when it stops at
its token limit (LLM_MAX_TOKENS) or fails mid-answer. Pure.

The prompt asks for an answer that fits the limit (``core.answer.prompt``); when the model runs
into it anyway, its last words are a fragment ("created from the specified block devices on the").
So the text is streamed on as it comes except the word being written, and, in the last stretch
before the limit (``reserve`` tokens), except the sentence or list item being written: if the
limit then comes, the answer ends at the last complete sentence, item or code line (an open code
block is closed) and the caller adds a note saying it was shortened. Deltas are counted as
tokens: llama.cpp, vLLM, Ollama and TGI stream one token per delta; a server that sends several
per delta only makes the last stretch start later.
"""

from __future__ import annotations

import re

__all__ = ["EndingGuard", "complete_until"]

_FENCE_LINE = re.compile(r"^\s*(```|~~~)", re.MULTILINE)
# the end of a sentence: terminal punctuation, then closing quotes/brackets and citations like
# " [2]" or "[1, 3]", then whitespace
_SENTENCE_END = re.compile(r"[.!?…][\"'»”)\]]*(?:\s*\[\d{1,2}(?:\s*[,;]\s*\d{1,2})*\])*[.]?(?=\s)")


def complete_until(text: str) -> int:
    """The length of the longest prefix of ``text`` that ends at a complete sentence, list item,
    table row or code line (0 if none). A line ending in ':' announces what follows and does not
    count as complete."""
    best = 0
    in_code = False
    pos = 0
    for line in text.splitlines(keepends=True):
        end = pos + len(line)
        finished = line.endswith("\n")
        body = line.strip()
        if _FENCE_LINE.match(line):
            if in_code and finished:
                best = end  # a closing fence ends a block; an opening one alone ends nothing
            in_code = not in_code
        elif in_code:
            if finished:
                best = end
        else:
            for m in _SENTENCE_END.finditer(line):
                best = pos + m.end()
            if finished and body and not body.endswith(":"):
                best = end
        pos = end
    return best


def _open_fence(text: str) -> str | None:
    """The fence of a code block still open at the end of ``text``, if any."""
    fence = None
    for m in _FENCE_LINE.finditer(text):
        fence = None if fence else m.group(1)
    return fence


class EndingGuard:
    """Feed it each delta's text; it returns what may be shown now. ``finish`` returns the rest."""

    def __init__(self, max_tokens: int, *, reserve: int | None = None) -> None:
        self.max_tokens = max_tokens
        self.reserve = reserve if reserve is not None else max(24, max_tokens // 4)
        self.text = ""
        self.shown = 0  # characters of ``text`` handed out
        self.deltas = 0

    @property
    def near_limit(self) -> bool:
        return self.deltas >= self.max_tokens - self.reserve

    def feed(self, text: str) -> str:
        self.text += text
        self.deltas += 1
        if self.near_limit:
            safe = complete_until(self.text)
        else:
            safe = max(self.text.rfind(" "), self.text.rfind("\n")) + 1  # all but the word being written
        if safe <= self.shown:
            return ""
        out, self.shown = self.text[self.shown : safe], safe
        return out

    def finish(self, *, cut: bool) -> str:
        """The text still to show, with a code block left open closed. ``cut``: the model stopped
        at the limit or failed, so the unfinished tail is dropped; the caller adds the note."""
        if not cut:
            out, self.shown = self.text[self.shown :], len(self.text)
            # a model that stops by itself inside a code block (it happens with the 1.5B model):
            # close it, or everything after it (sources, notes) renders as code
            fence = _open_fence(self.text)
            if fence is not None:
                out += ("" if self.text.endswith("\n") else "\n") + fence
            return out
        kept = self.text[: self.shown]
        fence = _open_fence(kept)
        if fence is None:
            return ""
        return ("" if kept.endswith("\n") else "\n") + fence
