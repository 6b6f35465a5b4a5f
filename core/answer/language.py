"""Is the answer being written in the question's language? Decided from its first words. Pure.

The passages often mix English and Russian pages of one product, and a small model sometimes
follows the passages' language instead of the question's. The answerer holds the first words
back until this check decides: an answer in the right language is shown at once (the first
Cyrillic word of a Russian answer, the first dozen Latin letters of an English one); one in the
wrong language is asked for again, once, with an insisting last line (docs/answering.md). Code,
inline code and identifiers say nothing about the language and are skipped.
"""

from __future__ import annotations

import re

__all__ = ["language_verdict"]

_FENCED = re.compile(r"(```|~~~).*?(\1|\Z)", re.S)
_INLINE = re.compile(r"`[^`\n]*`?")
_URL = re.compile(r"https?://\S+")
_IDENTIFIER = re.compile(r"\S*[\d_./:=<>{}-]\S*")  # kube-apiserver, v1alpha1, spec.replication, <pvc-name>
_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_LATIN = re.compile(r"[A-Za-z]")

ENOUGH_LETTERS = 12  # letters of ordinary words before an answer's script is taken as settled
ENOUGH_ENGLISH = 24  # Latin letters with no Cyrillic before a Russian question's answer is wrong


def _prose(text: str) -> str:
    text = _FENCED.sub(" ", text)
    text = _INLINE.sub(" ", text)
    text = _URL.sub(" ", text)
    return _IDENTIFIER.sub(" ", text)


def language_verdict(text: str, lang: str) -> bool | None:
    """True: written in ``lang`` ("en" or "ru"); False: in the other one; None: too early to say."""
    prose = _prose(text)
    cyrillic = len(_CYRILLIC.findall(prose))
    latin = len(_LATIN.findall(prose))
    if lang == "ru":  # Russian answers are full of English terms: one Russian word settles it
        if cyrillic >= 3:
            return True
        return False if latin >= ENOUGH_ENGLISH else None
    if cyrillic > latin and cyrillic >= ENOUGH_LETTERS:
        return False
    return True if latin >= ENOUGH_LETTERS and latin >= cyrillic else None
