"""The document types a deployment knows, with the English and Russian words people use for
them. The classifier (core.classify) assigns them; people filter by them ("runbook: how do I ...")."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["DocType", "DEFAULT_DOC_TYPES", "UNKNOWN", "split_doc_type_prefix"]

UNKNOWN = "unknown"


@dataclass(frozen=True)
class DocType:
    name: str
    description: str
    aliases: tuple[str, ...] = field(default_factory=tuple)  # what people type, EN and RU


DEFAULT_DOC_TYPES: tuple[DocType, ...] = (
    DocType(
        "runbook",
        "step-by-step operational procedure",
        ("runbooks", "ранбук", "ранбуки", "инструкция", "регламент"),
    ),
    DocType("faq", "frequently asked questions", ("faqs", "чаво", "вопросы")),
    DocType("howto", "a guide for one task", ("how-to", "guide", "guides", "руководство", "гайд")),
    DocType(
        "reference", "reference: API, configuration, parameters", ("ref", "api", "справочник", "справка")
    ),
    DocType("policy", "rules and policies", ("policies", "политика", "правила")),
    DocType("meeting_notes", "notes of a meeting", ("meeting", "meetings", "notes", "встреча", "протокол")),
    DocType("postmortem", "incident review", ("postmortems", "incident", "постмортем", "инцидент")),
    DocType("release_notes", "what changed in a release", ("release", "changelog", "релиз", "изменения")),
)

_PREFIX = re.compile(r"^\s*([\w-]{2,30})\s*:\s*(.+)$", re.DOTALL)


def split_doc_type_prefix(
    text: str, doc_types: tuple[DocType, ...] = DEFAULT_DOC_TYPES
) -> tuple[str | None, str]:
    """'runbook: how do I rotate keys?' -> ('runbook', 'how do I rotate keys?'). Text whose first
    word is not a known type or alias comes back unchanged (a question may well contain ':')."""
    m = _PREFIX.match(text)
    if not m:
        return None, text
    word = m.group(1).casefold()
    for doc_type in doc_types:
        if word == doc_type.name or word in doc_type.aliases:
            return doc_type.name, m.group(2).strip()
    return None, text
