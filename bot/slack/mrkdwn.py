"""The model's Markdown, rendered as Slack mrkdwn.

mrkdwn is not Markdown: links are ``<url|text>``, bold is ``*x*``, italics ``_x_``, there are no
headings and no tables, and ``&``, ``<``, ``>`` must be escaped everywhere (Slack reads ``<...>``
as a link or a mention, so an unescaped ``<`` in an answer could ping ``@channel``). The blocks
come from ``bot.chat.markdown.parse_blocks``; this module only decides how each one looks."""

from __future__ import annotations

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
    parse_inline,
)

__all__ = ["escape", "unescape", "render_inline", "render_block", "render_blocks", "plain_inline"]


def escape(text: str) -> str:
    """The three characters Slack asks apps to escape; nothing else is entity-encoded."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """What Slack sends with `&`, `<` and `>` escaped (slash command text) as the person typed it."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _link_url(url: str) -> str:
    # '|' would end the URL part of <url|text>, '>' the whole link
    return escape(url).replace("|", "%7C")


def _wrap(marker: str, inner: str) -> str:
    """``*bold*`` / ``_italic_``: Slack only formats markers that touch the text, so spaces at
    the edges go outside, and an empty span is left unmarked."""
    stripped = inner.strip()
    if not stripped:
        return inner
    lead = inner[: len(inner) - len(inner.lstrip())]
    trail = inner[len(inner.rstrip()) :]
    return f"{lead}{marker}{stripped}{marker}{trail}"


def render_inline(nodes: Sequence[Inline], *, in_bold: bool = False, in_italic: bool = False) -> str:
    out: list[str] = []
    for node in nodes:
        if isinstance(node, Text):
            out.append(escape(node.text))
        elif isinstance(node, Code):
            # a backtick inside inline code cannot be expressed in mrkdwn: soften it
            out.append(f"`{escape(node.text.replace('`', 'ˋ'))}`" if node.text.strip() else escape(node.text))
        elif isinstance(node, Bold):
            inner = render_inline(node.children, in_bold=True, in_italic=in_italic)
            out.append(inner if in_bold else _wrap("*", inner))
        elif isinstance(node, Italic):
            inner = render_inline(node.children, in_bold=in_bold, in_italic=True)
            out.append(inner if in_italic else _wrap("_", inner))
        elif isinstance(node, Link):
            label = plain_inline(node.children).replace("|", "¦").strip() or node.url
            out.append(f"<{_link_url(node.url)}|{escape(label)}>")
    return "".join(out)


def plain_inline(nodes: Sequence[Inline]) -> str:
    """The text of inline nodes without any formatting (not escaped)."""
    out: list[str] = []
    for node in nodes:
        if isinstance(node, Text | Code):
            out.append(node.text)
        else:
            out.append(plain_inline(node.children))
    return "".join(out)


def _code_block(text: str) -> str:
    # a ``` inside the code would close the block early
    body = escape(text.replace("```", "ˋˋˋ")).strip("\n")
    return f"```\n{body}\n```" if body else "```\n \n```"


def _table(table: Table) -> str:
    """Slack renders no tables: a monospaced grid in a code block keeps the columns readable."""
    rows = [tuple(plain_inline(parse_inline(c)) for c in row) for row in (table.header, *table.rows)]
    width = max(len(r) for r in rows)
    rows = [r + ("",) * (width - len(r)) for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(width)]

    def line(row: tuple[str, ...]) -> str:
        return " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()

    lines = [line(rows[0]), "-+-".join("-" * w for w in widths), *(line(r) for r in rows[1:])]
    return _code_block("\n".join(lines))


def render_block(block: Block) -> str:
    if isinstance(block, Paragraph):
        return render_inline(block.inlines)
    if isinstance(block, Heading):
        # no headings in mrkdwn: a bold line (formatting inside it would break the bold)
        return _wrap("*", render_inline(block.inlines, in_bold=True))
    if isinstance(block, CodeBlock):
        return _code_block(block.text)
    if isinstance(block, ListBlock):
        if block.ordered:
            return "\n".join(
                f"{block.start + i}. {render_inline(item)}" for i, item in enumerate(block.items)
            )
        return "\n".join(f"• {render_inline(item)}" for item in block.items)
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Quote):
        return f"> {render_inline(block.inlines)}"
    raise TypeError(f"unknown block {block!r}")


def render_blocks(blocks: Sequence[Block]) -> str:
    return "\n\n".join(render_block(b) for b in blocks)
