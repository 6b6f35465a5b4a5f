"""Bytes of one document -> clean, Markdown-flavoured text for the chunker.

Pure: no network and no disk, only the bytes given. The format comes from the media type or
the file name; each format lives in ``core.ingest.formats``. PDF and DOCX parsing is CPU-bound,
so async callers run ``extract`` in a worker thread (``asyncio.to_thread``)."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from core.errors import EmptyDocument, UnsupportedType
from core.ingest.formats.asciidoc import parse_asciidoc
from core.ingest.formats.decoding import declared_charset, decode_text
from core.ingest.formats.layout import clean_title, normalise
from core.ingest.formats.markdown import parse_markdown
from core.ingest.formats.pdf import parse_pdf
from core.ingest.formats.webpage import parse_html
from core.ingest.formats.word import parse_docx

__all__ = ["Extracted", "extract", "SUPPORTED_EXTENSIONS", "SUPPORTED_TYPES_TEXT", "format_for"]

log = logging.getLogger(__name__)

_BY_EXTENSION = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".mdx": "mdx",
    ".txt": "text",
    ".text": "text",
    ".rst": "text",
    ".adoc": "asciidoc",
    ".asciidoc": "asciidoc",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".docx": "docx",
}
SUPPORTED_EXTENSIONS = frozenset(_BY_EXTENSION)
SUPPORTED_TYPES_TEXT = (
    "Markdown (.md, .markdown, .mdx), plain text (.txt, .text, .rst), AsciiDoc (.adoc, .asciidoc), "
    "HTML (.html, .htm), PDF (.pdf) and Word (.docx)"
)

_BY_MEDIA_TYPE = {
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/plain": "text",
    "text/x-rst": "text",
    "text/asciidoc": "asciidoc",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
    "application/x-pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
}
# What servers send when they do not know: the file name decides.
_VAGUE_MEDIA_TYPES = {
    "",
    "text/plain",
    "application/octet-stream",
    "binary/octet-stream",
    "application/binary",
    "application/x-download",
    "application/force-download",
    "application/download",
}
# Media types that say more than a URL's name: a GitHub page for README.md is HTML.
_DECISIVE = {"html", "pdf", "docx"}
_HINTS = {
    ".doc": " Open it in Word or LibreOffice and save it as .docx first.",
    ".rtf": " Save it as .docx or .txt first.",
    ".odt": " Save it as .docx first.",
}


@dataclass(frozen=True)
class Extracted:
    title: str | None  # front matter title, first H1, HTML title/h1, PDF or DOCX metadata title
    text: str  # Markdown-flavoured: '#' headings, blank-line paragraphs, '- ' lists, ``` code, pipe tables
    metadata: Mapping[str, str] = field(default_factory=dict)  # scalar front matter / meta fields


def format_for(name: str, media_type: str | None = None) -> str:
    """The format ``extract`` will use: markdown, mdx, text, asciidoc, html, pdf or docx.
    Raises ``UnsupportedType`` with a message that lists what is supported."""
    media = (media_type or "").split(";", 1)[0].strip().lower()
    suffix = PurePosixPath(name).suffix.lower()
    by_media = _BY_MEDIA_TYPE.get(media)
    by_name = _BY_EXTENSION.get(suffix)
    if by_media in _DECISIVE:
        return by_media
    if by_name and (media in _VAGUE_MEDIA_TYPES or media.startswith("text/") or by_media):
        return by_name
    if by_media:
        return by_media
    if media and media not in _VAGUE_MEDIA_TYPES:
        what = f"content of type {media}"
    elif suffix:
        what = f"'{suffix}' files"
    else:
        what = "a file without an extension"
    raise UnsupportedType(
        f"Cannot read {name}: {what} are not supported. Supported: {SUPPORTED_TYPES_TEXT}."
        + _HINTS.get(suffix, "")
    )


def _charset_parameter(media_type: str | None) -> str | None:
    match = re.search(r";\s*charset\s*=\s*[\"']?([\w.:-]+)", media_type or "", re.IGNORECASE)
    return match.group(1) if match else None


def extract(content: bytes, *, name: str, media_type: str | None = None) -> Extracted:
    """Turn one document's bytes into clean text. Raises ``UnsupportedType``,
    ``UnreadableDocument`` (corrupt, encrypted, binary) or ``EmptyDocument``."""
    kind = format_for(name, media_type)
    if not content.strip():
        raise EmptyDocument(f"{name} is empty.")
    # A charset in the media type (an HTTP header) wins over one declared inside an HTML page.
    charset = _charset_parameter(media_type)
    if kind in ("markdown", "mdx"):
        parsed = parse_markdown(decode_text(content, name=name, charset=charset), mdx=kind == "mdx")
    elif kind == "text":
        parsed = (None, decode_text(content, name=name, charset=charset), {})
    elif kind == "asciidoc":
        parsed = parse_asciidoc(decode_text(content, name=name, charset=charset))
    elif kind == "html":
        parsed = parse_html(decode_text(content, name=name, charset=charset or declared_charset(content)))
    elif kind == "pdf":
        parsed = parse_pdf(content, name=name)
    else:
        parsed = parse_docx(content, name=name)
    title, text, metadata = parsed
    text = normalise(text)
    if not text:
        raise EmptyDocument(f"{name} has no text left once markup and front matter are removed.")
    metadata = dict(metadata)
    if metadata.get("lang"):
        # "ru-RU", "en_US" -> "ru", "en": the language codes the rest of ragbot uses
        metadata["lang"] = metadata["lang"].replace("_", "-").split("-")[0].strip().lower()
    log.debug("extracted name=%s format=%s chars=%d", name, kind, len(text))
    return Extracted(title=clean_title(title), text=text, metadata=metadata)
