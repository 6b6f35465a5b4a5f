"""Small, pure text facts the core needs in several places: language, token estimates,
normalisation. One place for each decision."""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "detect_lang",
    "tell_lang",
    "estimate_tokens",
    "normalise_question",
    "describe_size",
    "WORD_RE",
]

WORD_RE = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_LATIN = re.compile(r"[A-Za-z]")

# Measured on the eval corpora: the XLM-R tokenizer of multilingual-e5 gives about 1.3 tokens
# per regex word/punctuation unit in both English and Russian (docs/BENCHMARKS.md), so chunk
# sizes in "tokens" mean tokens of the embedding model, not whitespace words.
_TOKENS_PER_UNIT = 1.3


# Code says nothing of the language around it: a Russian answer that is mostly a YAML manifest is
# still Russian.
_CODE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]*`", re.S)


def detect_lang(text: str) -> str:
    """'ru' when Cyrillic letters dominate, else 'en'. Technical Russian text is full of Latin
    identifiers (kubectl, PVC), so Cyrillic needs only a third of the letters to win; code blocks
    and inline code are not counted unless there is nothing else."""
    prose = _CODE.sub(" ", text)
    if prose.strip():
        text = prose
    cyr = len(_CYRILLIC.findall(text))
    lat = len(_LATIN.findall(text))
    if cyr == 0:
        return "en"
    return "ru" if cyr * 2 >= lat else "en"


# Words that only an English sentence has: "PVC Pending?" or "kubectl get pods" do not say which
# language the person writes in, "why is the PVC pending?" does.
_ENGLISH_WORDS = frozenset(
    """a an the and or but not no is are was were be been do does did done have has had can could
    should would will shall may might must i we you he she it they me us him her them my our your
    its their this that these those there here what which who whom whose why how when where
    to of in on at by for from with about into after before please thanks thank anyone somebody
    any some all still again also just yet""".split()
)
_LATIN_WORD = re.compile(r"[A-Za-z]+")


def tell_lang(text: str) -> str | None:
    """The language a message is written in, or None when its words do not say: 'ru' as
    ``detect_lang`` decides it, 'en' only when an English function word is present."""
    if _CYRILLIC.search(text):
        return detect_lang(text)
    if any(w.lower() in _ENGLISH_WORDS for w in _LATIN_WORD.findall(text)):
        return "en"
    return None


def estimate_tokens(text: str) -> int:
    return int(len(WORD_RE.findall(text)) * _TOKENS_PER_UNIT + 0.5)


def normalise_question(text: str) -> str:
    """The form a question is cached under: case, spacing and trailing punctuation folded."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"\s+", " ", text).strip()
    return text.rstrip(" ?!.")


def describe_size(n_bytes: float) -> str:
    """A byte count as people read it in messages: "31.2 MB", "640 KB"."""
    mb = n_bytes / (1024 * 1024)
    return f"{mb:.1f} MB" if mb >= 0.1 else f"{n_bytes / 1024:.0f} KB"
