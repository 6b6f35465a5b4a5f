"""AsciiDoc (.adoc), the docs-as-code format of many Git repositories, -> Markdown: section titles
become headings, listing and literal blocks become fenced code, attribute entries, comments and
block attributes go. Enough for retrieval, not a renderer: inline markup stays as written."""

from __future__ import annotations

import re

from core.ingest.formats import Parsed
from core.ingest.formats.layout import fence

__all__ = ["parse_asciidoc"]

_TITLE = re.compile(r"^(={1,6})\s+(\S.*?)\s*=*\s*$")
_SOURCE = re.compile(r"^\[(?:source|listing)(?:,\s*([\w+#.-]+))?[^\]]*\]\s*$")
_ATTRIBUTE_ENTRY = re.compile(r"^:!?[\w-]+!?:.*$")
_BLOCK_ATTRIBUTES = re.compile(r"^\[[^\]]*\]\s*$")
_DELIMITERS = {"----": "listing", "....": "literal", "////": "comment"}


def parse_asciidoc(text: str) -> Parsed:
    lines = text.splitlines()
    out: list[str] = []
    title: str | None = None
    metadata: dict[str, str] = {}
    language = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped in _DELIMITERS:
            end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == stripped), len(lines))
            if _DELIMITERS[stripped] != "comment":
                out += ["", fence("\n".join(lines[i + 1 : end]), language), ""]
            language = ""
            i = end + 1
            continue
        source = _SOURCE.match(stripped)
        if source:
            language = source.group(1) or ""
        elif stripped.startswith("//") or _BLOCK_ATTRIBUTES.match(stripped):
            pass
        elif _ATTRIBUTE_ENTRY.match(stripped):
            name, _, value = stripped[1:].partition(":")
            if name in ("description", "keywords", "lang") and value.strip():
                metadata[name] = value.strip()
        elif heading := _TITLE.match(line):
            level = len(heading.group(1))
            if level == 1 and title is None:
                title = heading.group(2)
            out.append(f"{'#' * level} {heading.group(2)}")
        elif stripped.startswith(".") and len(stripped) > 1 and not stripped.startswith(".."):
            out.append(f"**{stripped[1:]}**")  # a block title
        elif stripped == "|===":
            pass
        else:
            out.append(line)
        i += 1
    return Parsed(title, "\n".join(out), metadata)
