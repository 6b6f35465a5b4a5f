"""Which sources go under an answer: the ones it cites, or, when it cites none, everything it
was given (marked as such, so nobody mistakes them for citations)."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Answer, Source

__all__ = ["SourceList", "sources_for"]


@dataclass(frozen=True)
class SourceList:
    sources: tuple[Source, ...]
    cited: bool  # False: the answer cites nothing; these are what retrieval found
    heading: str


_HEADINGS = {
    ("en", True): "Sources",
    ("en", False): "Retrieved (not cited)",
    ("ru", True): "Источники",
    ("ru", False): "Найдено (без ссылок в ответе)",
}


def sources_for(answer: Answer) -> SourceList:
    cited = answer.cites_any
    shown = tuple(s for s in answer.sources if s.cited) if cited else answer.sources
    if answer.declined and not cited:
        shown = ()
    lang = "ru" if answer.lang == "ru" else "en"
    return SourceList(shown, cited, _HEADINGS[(lang, cited)])
