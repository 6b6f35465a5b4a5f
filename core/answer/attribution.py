"""Which context passages an answer drew on, when it cites none. Pure functions.

Small models often forget the [n] brackets, above all when the answer is mostly a command or a
YAML block copied from the context (the embedded default does so for "how do I create ..."
questions). Without this the person would see the sources as "retrieved, not cited" although the
answer is the text of one of them. A passage counts as used when the answer repeats runs of its
words: shingles of ``SHINGLE`` consecutive words, at least ``MIN_SHARED`` of them, and at least half
as many as the passage the answer repeats most. Paraphrase does not count: it stays uncited,
which is the honest reading. The passages are compared as the model was shown them
(compressed, ``ContextItem.text``).
"""

from __future__ import annotations

from collections.abc import Sequence

from core.answer.context import ContextItem, shingles

__all__ = ["drawn_from"]

SHINGLE = 5
MIN_SHARED = 4


def drawn_from(answer: str, items: Sequence[ContextItem]) -> set[int]:
    """The numbers of the passages the answer repeats (see the module docstring)."""
    said = shingles(answer, SHINGLE)
    if not said:
        return set()
    shared = {item.n: len(said & shingles(item.text, SHINGLE)) for item in items}
    most = max(shared.values(), default=0)
    if most < MIN_SHARED:
        return set()
    return {n for n, count in shared.items() if count >= MIN_SHARED and 2 * count >= most}
