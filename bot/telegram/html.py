"""The model's Markdown as Telegram HTML (``parse_mode=HTML``).

Telegram understands a small set of tags (``<b> <i> <code> <pre> <a href> <blockquote>``) and
nothing else: headings become bold lines, lists become lines with a marker, tables become a
``<pre>`` block with aligned columns. Every piece of text is escaped (``& < >``, and quotes
inside ``href``), so the output always parses; the sender still falls back to plain text if
Telegram disagrees.

Telegram limits a message to 4,096 characters *after* entity parsing, i.e. the text people see,
counted in UTF-16 code units; ``visible_length`` measures exactly that, and ``split_html``
cuts long answers between blocks so that every part fits."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from bot.chat.markdown import (
    Block,
    Bold,
    Code,
    CodeBlock,
    Heading,
    Inline,
    Italic,
    Link,
    ListBlock,
    Paragraph,
    Quote,
    Table,
    Text,
    parse_blocks,
    parse_inline,
    split_blocks,
)

__all__ = [
    "MESSAGE_LIMIT",
    "escape",
    "render_inline",
    "render_blocks",
    "render_markdown",
    "visible_text",
    "visible_length",
    "split_html",
]

MESSAGE_LIMIT = 4096

_TAG = re.compile(r"<[^>]*>")


def escape(text: str) -> str:
    """Text between tags: only ``& < >`` need escaping in Telegram HTML."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attr(value: str) -> str:
    return escape(value).replace('"', "&quot;")


def render_inline(nodes: Sequence[Inline]) -> str:
    out: list[str] = []
    for node in nodes:
        if isinstance(node, Text):
            out.append(escape(node.text))
        elif isinstance(node, Code):
            out.append(f"<code>{escape(node.text)}</code>")
        elif isinstance(node, Bold):
            out.append(f"<b>{render_inline(node.children)}</b>")
        elif isinstance(node, Italic):
            out.append(f"<i>{render_inline(node.children)}</i>")
        elif isinstance(node, Link):
            out.append(f'<a href="{_attr(node.url)}">{render_inline(node.children)}</a>')
    return "".join(out)


def _plain_inline(nodes: Sequence[Inline]) -> str:
    return "".join(n.text if isinstance(n, Text | Code) else _plain_inline(n.children) for n in nodes)


def _table(table: Table) -> str:
    # cells may carry Markdown (**x**, `y`): inside <pre> only their text can be shown
    rows = [[_plain_inline(parse_inline(c)) for c in row] for row in (table.header, *table.rows)]
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(width)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return f"<pre>{escape(chr(10).join(lines))}</pre>"


def _block(block: Block) -> str:
    if isinstance(block, Paragraph):
        return render_inline(block.inlines)
    if isinstance(block, Heading):
        return f"<b>{render_inline(block.inlines)}</b>"
    if isinstance(block, CodeBlock):
        if block.lang:
            return f'<pre><code class="language-{_attr(block.lang)}">{escape(block.text)}</code></pre>'
        return f"<pre>{escape(block.text)}</pre>"
    if isinstance(block, ListBlock):
        lines = []
        for i, item in enumerate(block.items):
            marker = f"{block.start + i}." if block.ordered else "•"
            lines.append(f"{marker} {render_inline(item)}")
        return "\n".join(lines)
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Quote):
        return f"<blockquote>{render_inline(block.inlines)}</blockquote>"
    raise TypeError(f"unknown block {type(block).__name__}")


def render_blocks(blocks: Sequence[Block]) -> str:
    return "\n\n".join(rendered for b in blocks if (rendered := _block(b)))


def render_markdown(text: str) -> str:
    return render_blocks(parse_blocks(text))


def visible_text(markup: str) -> str:
    """What people see of our HTML: tags dropped, entities decoded. Exact for HTML we rendered
    (every '<' in it starts a tag), and the plain-text fallback when Telegram rejects the markup."""
    return html.unescape(_TAG.sub("", markup))


def visible_length(markup: str) -> int:
    """Telegram's measure of a message: UTF-16 code units of the visible text."""
    return len(visible_text(markup).encode("utf-16-le")) // 2


def split_html(blocks: Sequence[Block], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Render blocks as one or more HTML messages, each at most ``limit`` visible characters."""
    if not blocks:
        return []
    groups = split_blocks(blocks, limit, lambda bs: visible_length(render_blocks(bs)))
    return [rendered for group in groups if (rendered := render_blocks(group))]
