"""What the classifier reads of a document: its file name and folders, title, headings, front
matter and the start of its text, each normalised once. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

__all__ = ["DocView", "view_of", "fold", "HEAD_CHARS"]

# The classifier reads the start of a document: its kind shows in the first pages, and reading
# more only costs time (a 300 KB user guide would otherwise dominate the cost per document).
HEAD_CHARS = 6000
_MAX_HEADINGS = 40
_DOC_SUFFIXES = {".md", ".markdown", ".mdx", ".txt", ".text", ".rst", ".html", ".htm", ".pdf", ".docx"}
_LANG_SUFFIX = re.compile(r"(?:[._-](?:ru|en|rus|eng))+$", re.IGNORECASE)
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_SEPARATORS = re.compile(r"[\s_.\-]+")
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*$", re.MULTILINE)
# front matter fields that say what kind of page it is (``type``/``doc_type`` are an explicit
# override, applied by the pipeline before the classifier is asked)
_KIND_FIELDS = ("category", "categories", "tags", "layout", "kind", "section", "labels")


def fold(text: str) -> str:
    """Lower case, 'ё' read as 'е' (Russian writers use both), spacing collapsed."""
    return " ".join(text.casefold().replace("ё", "е").split())


@dataclass(frozen=True)
class DocView:
    filename: str  # "release notes" for RELEASE_NOTES.ru.md
    folders: tuple[str, ...]  # "runbooks" for docs/runbooks/db.md (no host for URLs)
    title: str
    headings: tuple[str, ...]  # the first headings of the text, without '#'
    front_matter: str  # the values of the fields in _KIND_FIELDS, joined
    head: str  # the first HEAD_CHARS characters of the text, folded
    raw_title: str
    raw_head: str  # the same start of the text, as written (the model reads it)


def _name_parts(source: str) -> tuple[str, tuple[str, ...]]:
    if "://" in source:
        path = unquote(urlsplit(source).path)
    else:
        path = source.replace("\\", "/")
    parts = [p for p in PurePosixPath(path).parts if p not in ("/", "", ".", "..")]
    if not parts:
        return "", ()
    name = parts[-1]
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in _DOC_SUFFIXES:
        name = name[: -len(suffix)]
    name = _LANG_SUFFIX.sub("", name)
    name = _CAMEL.sub(" ", name)
    folders = tuple(fold(_SEPARATORS.sub(" ", _CAMEL.sub(" ", p))) for p in parts[:-1])
    return fold(_SEPARATORS.sub(" ", name)), folders


def view_of(*, title: str, text: str, source: str, metadata: Mapping[str, str]) -> DocView:
    filename, folders = _name_parts(source)
    raw_head = text[:HEAD_CHARS]
    headings = tuple(fold(h.strip("#* ")) for h in _HEADING.findall(text[: HEAD_CHARS * 3])[:_MAX_HEADINGS])
    front = " ; ".join(fold(str(metadata[k])) for k in _KIND_FIELDS if metadata.get(k))
    return DocView(
        filename=filename,
        folders=folders,
        title=fold(title),
        headings=headings,
        front_matter=front,
        head=fold(raw_head),
        raw_title=title.strip(),
        raw_head=raw_head,
    )
