"""A small parser for the Markdown that language models write, so each platform can render it
its own way (Slack mrkdwn, Telegram HTML) and long answers can be split between blocks.

It is deliberately forgiving: the text may be half-written (streaming), so an unclosed code
fence runs to the end and unmatched ``**`` stays literal. Tables become rows of cells; the
renderers decide how to show them (neither platform renders Markdown tables)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = [
    "Text",
    "Code",
    "Bold",
    "Italic",
    "Link",
    "Inline",
    "Paragraph",
    "Heading",
    "CodeBlock",
    "ListBlock",
    "Table",
    "Quote",
    "Block",
    "parse_blocks",
    "parse_inline",
    "split_blocks",
]


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class Bold:
    children: tuple[Inline, ...]


@dataclass(frozen=True)
class Italic:
    children: tuple[Inline, ...]


@dataclass(frozen=True)
class Link:
    children: tuple[Inline, ...]
    url: str


Inline = Text | Code | Bold | Italic | Link


@dataclass(frozen=True)
class Paragraph:
    inlines: tuple[Inline, ...]


@dataclass(frozen=True)
class Heading:
    level: int
    inlines: tuple[Inline, ...]


@dataclass(frozen=True)
class CodeBlock:
    lang: str
    text: str


@dataclass(frozen=True)
class ListBlock:
    ordered: bool
    items: tuple[tuple[Inline, ...], ...]
    start: int = 1


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Quote:
    inlines: tuple[Inline, ...]


Block = Paragraph | Heading | CodeBlock | ListBlock | Table | Quote

_FENCE = re.compile(r"^\s*(```|~~~)\s*([\w+#.-]*)\s*$")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^\s*[-*+•]\s+(.*)$")
_ORDERED = re.compile(r"^\s*(\d{1,3})[.)]\s+(.*)$")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_QUOTE = re.compile(r"^\s*>\s?(.*)$")


def _cells(row: str) -> tuple[str, ...]:
    return tuple(c.strip() for c in row.strip().strip("|").split("|"))


def parse_blocks(text: str) -> list[Block]:
    lines = text.replace("\r\n", "\n").split("\n")
    blocks: list[Block] = []
    para: list[str] = []
    i = 0

    def flush_para() -> None:
        if para:
            blocks.append(Paragraph(parse_inline(" ".join(p.strip() for p in para))))
            para.clear()

    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            flush_para()
            body: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(fence.group(1)):
                body.append(lines[i])
                i += 1
            blocks.append(CodeBlock(fence.group(2), "\n".join(body)))
            i += 1  # the closing fence (or past the end when the fence is still open)
            continue
        if not line.strip():
            flush_para()
            i += 1
            continue
        heading = _HEADING.match(line)
        if heading:
            flush_para()
            blocks.append(Heading(len(heading.group(1)), parse_inline(heading.group(2))))
            i += 1
            continue
        if _TABLE_ROW.match(line) and i + 1 < len(lines) and _TABLE_SEP.match(lines[i + 1]):
            flush_para()
            header = _cells(line)
            rows = []
            i += 2
            while i < len(lines) and _TABLE_ROW.match(lines[i]):
                rows.append(_cells(lines[i]))
                i += 1
            blocks.append(Table(header, tuple(rows)))
            continue
        bullet, ordered = _BULLET.match(line), _ORDERED.match(line)
        if bullet or ordered:
            flush_para()
            is_ordered = ordered is not None and bullet is None
            start = int(ordered.group(1)) if is_ordered else 1
            items: list[list[str]] = []
            while i < len(lines):
                b, o = _BULLET.match(lines[i]), _ORDERED.match(lines[i])
                m = o if is_ordered else b
                if m:
                    items.append([m.group(m.lastindex)])
                elif lines[i].strip() and items and lines[i].startswith((" ", "\t")):
                    items[-1].append(lines[i].strip())  # a continuation line of the item
                else:
                    break
                i += 1
            blocks.append(ListBlock(is_ordered, tuple(parse_inline(" ".join(it)) for it in items), start))
            continue
        quote = _QUOTE.match(line)
        if quote:
            flush_para()
            quoted = []
            while i < len(lines) and (q := _QUOTE.match(lines[i])):
                quoted.append(q.group(1))
                i += 1
            blocks.append(Quote(parse_inline(" ".join(quoted))))
            continue
        para.append(line)
        i += 1
    flush_para()
    return blocks


_INLINE = re.compile(
    r"(?P<code>`+)(?P<code_text>.+?)(?P=code)"
    r"|\[(?P<link_text>[^\]\n]+)\]\((?P<url>https?://[^\s)]+)\)"
    r"|(?P<bold>\*\*|__)(?P<bold_text>.+?)(?P=bold)"
    r"|(?<![\w*])\*(?P<italic_text>[^*\s][^*\n]*?)\*(?![\w*])"
    r"|(?<![\w_])_(?P<italic_u_text>[^_\s][^_\n]*?)_(?![\w_])"
    r"|(?P<bare>https?://[^\s<>()\[\]]+[^\s<>()\[\].,;:!?'\"])"
)


def parse_inline(text: str) -> tuple[Inline, ...]:
    out: list[Inline] = []
    pos = 0
    for m in _INLINE.finditer(text):
        if m.start() > pos:
            out.append(Text(text[pos : m.start()]))
        if m.group("code"):
            out.append(Code(m.group("code_text").strip() if m.group("code") != "`" else m.group("code_text")))
        elif m.group("url"):
            out.append(Link(parse_inline(m.group("link_text")), m.group("url")))
        elif m.group("bold"):
            out.append(Bold(parse_inline(m.group("bold_text"))))
        elif m.group("italic_text") is not None:
            out.append(Italic(parse_inline(m.group("italic_text"))))
        elif m.group("italic_u_text") is not None:
            out.append(Italic(parse_inline(m.group("italic_u_text"))))
        else:
            out.append(Link((Text(m.group("bare")),), m.group("bare")))
        pos = m.end()
    if pos < len(text):
        out.append(Text(text[pos:]))
    return tuple(out)


def _split_oversized(block: Block, limit: int, measure: Callable[[Sequence[Block]], int]) -> list[Block]:
    """Cut one block that alone exceeds the limit: code by lines, other text by words."""
    if isinstance(block, CodeBlock):
        parts: list[Block] = []
        lines: list[str] = []
        for line in block.text.split("\n"):
            if lines and measure([CodeBlock(block.lang, "\n".join([*lines, line]))]) > limit:
                parts.append(CodeBlock(block.lang, "\n".join(lines)))
                lines = []
            lines.append(line[: max(limit - 20, 1)])
        parts.append(CodeBlock(block.lang, "\n".join(lines)))
        return parts
    words = _plain(block).split(" ")
    parts, buf = [], []
    for word in words:
        if buf and measure([Paragraph((Text(" ".join([*buf, word])),))]) > limit:
            parts.append(Paragraph((Text(" ".join(buf)),)))
            buf = []
        buf.append(word[: max(limit - 1, 1)])
    if buf:
        parts.append(Paragraph((Text(" ".join(buf)),)))
    return parts


def _plain(block: Block) -> str:
    def flat(inlines: Sequence[Inline]) -> str:
        out = []
        for node in inlines:
            if isinstance(node, Text | Code):
                out.append(node.text)
            else:
                out.append(flat(node.children))
        return "".join(out)

    if isinstance(block, Paragraph | Heading | Quote):
        return flat(block.inlines)
    if isinstance(block, ListBlock):
        return " ".join(flat(item) for item in block.items)
    if isinstance(block, Table):
        return " ".join(" ".join(r) for r in (block.header, *block.rows))
    return block.text


def split_blocks(
    blocks: Sequence[Block], limit: int, measure: Callable[[Sequence[Block]], int]
) -> list[list[Block]]:
    """Group blocks into messages whose rendered size (``measure``) stays within ``limit``,
    cutting between blocks, and inside a block only when it alone is too big."""
    messages: list[list[Block]] = []
    current: list[Block] = []
    for block in blocks:
        pieces = [block] if measure([block]) <= limit else _split_oversized(block, limit, measure)
        for piece in pieces:
            if current and measure([*current, piece]) > limit:
                messages.append(current)
                current = []
            current.append(piece)
    if current:
        messages.append(current)
    return messages
