"""A PDF's text layer -> paragraphs, with headings from its outline (bookmarks) when it has one.

PDF text comes as positioned lines, not paragraphs: lines about as long as the page's full
lines are joined into paragraphs (a shorter line ends one), hyphenated line breaks are joined,
and page furniture (running headers, footers, page numbers) repeated on most pages is dropped."""

from __future__ import annotations

import io
import logging
import re
from collections import Counter

from pypdf import PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError

from core.errors import EmptyDocument, UnreadableDocument
from core.ingest.formats import Parsed

__all__ = ["parse_pdf"]

log = logging.getLogger(__name__)

_BULLET = re.compile(r"^\s*[•●▪◦‣∙·○■□–]\s*")
_LIST_ITEM = re.compile(r"^\s*(?:- |\d{1,3}[.)] |[a-z][.)] )")
_SENTENCE_END = re.compile(r"[.!?:;»”\"]$")
_PAGE_NUMBER = re.compile(r"^(?:page\s+|стр\.?\s*)?\d{1,4}(?:\s*(?:/|of|из)\s*\d{1,4})?$", re.IGNORECASE)
_TOC_LEADER = re.compile(r"(?:\.\s?){4,}\s*[\divxlc]+\s*$", re.IGNORECASE)
_SECTION_NUMBER = re.compile(r"^(?:[A-Z]|\d{1,2})(?:\.\d{1,2})*\.?\s+")
_JUNK_TITLES = re.compile(r"^(untitled|document\d*|\s*)$", re.IGNORECASE)


def parse_pdf(content: bytes, *, name: str) -> Parsed:
    if b"%PDF-" not in content[:1024]:
        raise UnreadableDocument(f"{name} is not a PDF file (it does not start with the %PDF- header).")
    try:
        reader = PdfReader(io.BytesIO(content))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnreadableDocument(f"{name} is password-protected; save a copy without a password.")
        pages = [page.extract_text() or "" for page in reader.pages]
        metadata = _metadata(reader)
        headings = _outline(reader)
    except UnreadableDocument:
        raise
    except (FileNotDecryptedError, DependencyError) as e:
        raise UnreadableDocument(
            f"{name} is encrypted and cannot be opened; save a copy without a password."
        ) from e
    except Exception as e:  # noqa: BLE001 - pypdf raises assorted errors on corrupt files
        log.debug("pdf parse failed name=%s error=%r", name, e)
        raise UnreadableDocument(_damaged(name, content, e)) from e
    if not any(p.strip() for p in pages):
        raise EmptyDocument(
            f"{name} has no text layer: its {len(pages)} page(s) are probably scanned images. "
            "Run it through OCR first."
        )
    title = metadata.pop("title", None)
    if title and title.lower().startswith("microsoft word - "):
        title = title[len("microsoft word - ") :]  # what Word's PDF printer puts in front
    if title and _JUNK_TITLES.match(title):
        title = None
    text = _paragraphs(_without_furniture([p.split("\n") for p in pages]), headings)
    return Parsed(title, text, metadata)


def _damaged(name: str, content: bytes, error: Exception) -> str:
    if b"%%EOF" not in content[-2048:]:
        return (
            f"{name} is incomplete (the end of the PDF is missing): it was probably cut off "
            "during a download or upload."
        )
    return f"{name} is damaged and cannot be read as a PDF ({_short(error)})."


def _short(error: Exception) -> str:
    text = str(error).strip().split("\n")[0] or type(error).__name__
    return text[:120]


def _metadata(reader: PdfReader) -> dict[str, str]:
    info = reader.metadata or {}
    out = {}
    for key, field in (
        ("title", "/Title"),
        ("author", "/Author"),
        ("description", "/Subject"),
        ("tags", "/Keywords"),
    ):
        value = info.get(field)
        if isinstance(value, str) and value.strip():
            out[key] = " ".join(value.split())
    return out


def _outline(reader: PdfReader) -> dict[str, int]:
    """Bookmark titles (whitespace-folded, lower-cased) -> heading level."""
    found: dict[str, int] = {}

    def visit(items: list, level: int) -> None:  # type: ignore[type-arg]
        for item in items:
            if isinstance(item, list):
                visit(item, level + 1)
            else:
                title = " ".join(str(getattr(item, "title", "") or "").split()).lower()
                if title:
                    found.setdefault(title, min(level, 6))

    try:
        visit(reader.outline, 1)
    except Exception as e:  # noqa: BLE001 - a broken outline only costs us the headings
        log.debug("pdf outline unreadable error=%r", e)
    return found


def _furniture_key(line: str) -> str:
    return re.sub(r"\d+", "#", " ".join(line.split()).lower())


def _without_furniture(pages: list[list[str]]) -> list[list[str]]:
    """Drop page numbers, and lines at the top or bottom of pages that repeat on most pages."""
    edges: Counter[str] = Counter()
    for lines in pages:
        content = [ln for ln in lines if ln.strip()]
        edges.update({_furniture_key(ln) for ln in content[:2] + content[-2:]})
    # Running headers change with the chapter ("Chapter 2: Naming 4"), so a line repeated at the
    # edges of a few pages counts, and twice is enough when it carries a page number.
    threshold = max(3, len(pages) // 10)
    repeated = {key for key, n in edges.items() if n >= threshold or (n >= 2 and key.endswith("#"))}
    cleaned = []
    for lines in pages:
        content = [ln for ln in lines if ln.strip()]
        edge = set(content[:2] + content[-2:])
        cleaned.append(
            [
                ln
                for ln in lines
                if not (ln in edge and (_furniture_key(ln) in repeated or _PAGE_NUMBER.match(ln.strip())))
                and not _TOC_LEADER.search(ln)
            ]
        )
    return cleaned


def _paragraphs(pages: list[list[str]], headings: dict[str, int]) -> str:
    blocks: list[str] = []
    current = ""  # a paragraph may run on over a page break
    for lines in pages:
        lengths = sorted(len(ln.strip()) for ln in lines if ln.strip())
        full = lengths[int(len(lengths) * 0.9)] if lengths else 0  # a full line's length
        for raw in lines:
            line = _BULLET.sub("- ", " ".join(raw.split()))
            if not line:
                blocks.append(current)
                current = ""
                continue
            level = headings.get(line.lower()) or headings.get(_SECTION_NUMBER.sub("", line, count=1).lower())
            if level:
                blocks.extend([current, "#" * level + " " + line])
                current = ""
                continue
            if _LIST_ITEM.match(line) and current:
                blocks.append(current)
                current = ""
            if not current:
                current = line
            elif current.endswith("-") and len(current) > 1 and current[-2].isalpha() and line[:1].islower():
                current = current[:-1] + line  # a word hyphenated across lines
            else:
                current = f"{current} {line}"
            if len(line) < 0.7 * full or (_SENTENCE_END.search(line) and len(line) < 0.85 * full):
                blocks.append(current)  # a short line ends its paragraph
                current = ""
    blocks.append(current)
    out: list[str] = []
    for block in (b for b in blocks if b.strip()):
        if out and _LIST_ITEM.match(block) and _LIST_ITEM.match(out[-1].split("\n")[-1]):
            out[-1] += "\n" + block  # consecutive items stay one list
        else:
            out.append(block)
    return "\n\n".join(out)
