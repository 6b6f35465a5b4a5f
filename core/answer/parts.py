"""A chunk's text cut into the parts query-focused compression chooses from. Pure functions.

Chunks are Markdown-flavoured (``core.ingest.extract``): ``#`` headings, paragraphs, ``-`` and
``1.`` lists, fenced code, pipe tables. A part is one sentence of a paragraph, one list item (with
its continuation lines), one table row, or one whole code block (code is never cut: a command
with half its flags is worse than none). Each part knows the heading path it sits under, worked
out from the heading lines inside the chunk, because a chunk often spans several sections while
``Chunk.heading_path`` names only the first (docs/answering.md: a citation names the heading of
the part it cites).

A part may need another to be understood; ``needs`` holds their indices: a sentence or item
that ends with ":" introduces what follows it, a table row needs the table's header, a nested
list item needs its parent item.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from core.models import Chunk
from core.text import estimate_tokens

__all__ = ["Part", "PartKind", "split_parts", "split_sentences"]

PartKind = Literal["sentence", "item", "row", "table_head", "code"]

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_ITEM = re.compile(r"^(\s*)(?:[-*+]|\d{1,3}[.)])\s+\S")
_TABLE_LINE = re.compile(r"^\s*\|")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}")
_RULE = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$")  # a horizontal rule: nothing to read
# A sentence ends at . ! ? … followed by a space and an upper-case letter, a digit or an opening
# quote/bracket; abbreviations like "e.g. the" (lower case next) and initials ("John C. Messenger",
# "Джона К. Мессенджера": one capital letter before the dot) do not end one.
_SENTENCE_END = re.compile(r"(?<![\s(][A-ZА-ЯЁ]\.)(?<=[.!?…])[\"'»)\]]*\s+(?=[\"'«(\[]?[A-ZА-ЯЁ0-9`])")


@dataclass(frozen=True)
class Part:
    index: int  # order inside the chunk
    kind: PartKind
    text: str
    path: tuple[str, ...]  # the headings it sits under, outermost first
    block: int  # parts of one paragraph, list, table or code block share it
    tokens: int
    needs: tuple[int, ...] = ()  # parts to show with it (see the module docstring)
    indent: int = 0  # list items: nesting depth in spaces

    @property
    def introduces(self) -> bool:
        """Ends with ':' — it announces the next part (a command, a list, an example)."""
        return self.text.rstrip().endswith(":")


def split_sentences(text: str) -> list[str]:
    """A paragraph's sentences, in order, whitespace kept inside each."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


@dataclass
class _Builder:
    path: list[tuple[int, str]]
    parts: list[Part]
    block: int = 0

    def add(self, kind: PartKind, text: str, *, needs: tuple[int, ...] = (), indent: int = 0) -> int:
        index = len(self.parts)
        self.parts.append(
            Part(
                index=index,
                kind=kind,
                text=text,
                path=tuple(h for _, h in self.path),
                block=self.block,
                tokens=estimate_tokens(text),
                needs=needs,
                indent=indent,
            )
        )
        return index


def _start_path(chunk: Chunk) -> list[tuple[int, str]]:
    """The chunk's own heading path with guessed levels (1, 2, 3...): a heading line inside the
    chunk then replaces the entries at its level and below. A heading line that repeats the
    path's last entry (chunks usually start with their heading) gives that entry its true level."""
    return [(level, heading) for level, heading in enumerate(chunk.heading_path, start=1)]


def _opens_inside_code(lines: list[str]) -> int:
    """How many leading lines belong to a code block the chunk starts inside of (0: none).

    The chunker cuts an oversized code block at line ends, so a chunk can begin inside one. Its
    first fence line then closes a block; we know it when the fence lines do not pair up and the
    first is bare (an opening fence usually names its language)."""
    fences = [i for i, line in enumerate(lines) if _FENCE.match(line)]
    if len(fences) % 2 == 0 or lines[fences[0]].strip() not in ("```", "~~~"):
        return 0
    return fences[0] + 1


def split_parts(chunk: Chunk) -> list[Part]:
    b = _Builder(_start_path(chunk), [])
    lines = chunk.text.splitlines()
    i = _opens_inside_code(lines)
    if i > 1:
        fence = lines[i - 1].strip()
        b.add("code", "\n".join([fence, *lines[: i - 1], fence]))
        b.block += 1
    paragraph: list[str] = []

    def flush_paragraph() -> None:
        if paragraph:
            text = " ".join(line.strip() for line in paragraph)
            for sentence in split_sentences(text):
                b.add("sentence", sentence)
            b.block += 1
            paragraph.clear()

    while i < len(lines):
        line = lines[i]
        if _FENCE.match(line):
            flush_paragraph()
            fence = [line]
            i += 1
            while i < len(lines):
                fence.append(lines[i])
                i += 1
                if _FENCE.match(fence[-1]):
                    break
            previous = b.parts[-1].index if b.parts and b.parts[-1].introduces else None
            b.add("code", "\n".join(fence), needs=() if previous is None else (previous,))
            b.block += 1
            continue
        heading = _HEADING.match(line)
        if heading:
            flush_paragraph()
            level, title = len(heading.group(1)), heading.group(2).strip()
            if b.path and b.path[-1][1] == title:
                b.path[-1] = (level, title)
            else:
                while b.path and b.path[-1][0] >= level:
                    b.path.pop()
                b.path.append((level, title))
            i += 1
            continue
        if not line.strip() or _RULE.match(line):
            flush_paragraph()
            i += 1
            continue
        if _TABLE_LINE.match(line):
            flush_paragraph()
            i = _table(lines, i, b)
            continue
        if _ITEM.match(line):
            flush_paragraph()
            i = _list(lines, i, b)
            continue
        paragraph.append(line)
        i += 1
    flush_paragraph()
    return b.parts


def _table(lines: list[str], i: int, b: _Builder) -> int:
    rows: list[str] = []
    while i < len(lines) and _TABLE_LINE.match(lines[i]):
        rows.append(lines[i].rstrip())
        i += 1
    lead = b.parts[-1].index if b.parts and b.parts[-1].introduces else None
    if len(rows) >= 2 and _TABLE_RULE.match(rows[1]):
        head = b.add("table_head", "\n".join(rows[:2]), needs=() if lead is None else (lead,))
        for row in rows[2:]:
            b.add("row", row, needs=(head,))
    else:  # no header row: each row stands alone
        for row in rows:
            b.add("row", row)
    b.block += 1
    return i


def _list(lines: list[str], i: int, b: _Builder) -> int:
    """Consecutive items (continuation lines joined to their item), a nested item needing its
    parent; ends at a blank line followed by something that is not an item."""
    lead = b.parts[-1].index if b.parts and b.parts[-1].introduces else None
    parents: list[tuple[int, int]] = []  # (indent, part index) of the open items, outermost first
    current: list[str] = []
    indent = 0

    def flush_item() -> None:
        if not current:
            return
        while parents and parents[-1][0] >= indent:
            parents.pop()
        needs = (parents[-1][1],) if parents else (() if lead is None else (lead,))
        text = "\n".join(current)
        index = b.add("item", text, needs=needs, indent=indent)
        parents.append((indent, index))
        current.clear()

    while i < len(lines):
        line = lines[i]
        item = _ITEM.match(line)
        if item:
            flush_item()
            indent = len(item.group(1))
            current.append(line.rstrip())
        elif not line.strip():
            following = next((x for x in lines[i + 1 :] if x.strip()), "")
            if not _ITEM.match(following) and not following.startswith((" ", "\t")):
                break
        elif _FENCE.match(line) and current and line.startswith((" ", "\t")):
            # a code block indented under an item is the item's (a step and its command)
            current.append(line.rstrip())
            i += 1
            while i < len(lines):
                current.append(lines[i].rstrip())
                i += 1
                if _FENCE.match(lines[i - 1]):
                    break
            continue
        elif _HEADING.match(line) or _FENCE.match(line) or _TABLE_LINE.match(line):
            break
        elif line.startswith((" ", "\t")) or current:
            current.append(line.rstrip())
        else:
            break
        i += 1
    flush_item()
    b.block += 1
    return i
