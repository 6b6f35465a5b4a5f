"""An HTML page -> the Markdown of its content, without the page around it.

Picks the content root (<main>, role=main, a single <article>, else <body>), removes what is
navigation, chrome or script (nav, aside, forms, cookie banners, breadcrumbs, "Skip to content"
links, page-level header and footer), then writes headings, paragraphs, lists, tables and code
blocks as Markdown."""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser, LexborNode

from core.ingest.formats import Parsed
from core.ingest.formats.layout import fence

__all__ = ["parse_html"]

_DROP = (
    "script, style, noscript, template, svg, canvas, iframe, object, embed, nav, aside, form, button, "
    "input, select, textarea, dialog, menu, footer, [hidden], [aria-hidden=true], [role=navigation], "
    "[role=banner], [role=contentinfo], [role=search], [role=complementary], [role=dialog]"
)
_NOISE_TOKENS = {
    "menu", "sidebar", "toc", "table-of-contents", "breadcrumb", "breadcrumbs", "skip-link", "skiplink",
    "skip-to-content", "newsletter", "pagination", "site-header", "site-footer", "edit-page", "advert",
    "ads", "hidden", "d-none", "sr-only", "visually-hidden", "screen-reader-text",
}  # fmt: skip
_NOISE_PARTS = ("cookie", "consent", "gdpr", "breadcrumb")
_SKIP_LINK = re.compile(r"^\s*(skip to|skip navigation|jump to|перейти к)", re.IGNORECASE)
_BLOCKS = {
    "address", "article", "body", "center", "dd", "details", "div", "dl", "dt", "fieldset", "figcaption",
    "figure", "header", "hgroup", "li", "main", "p", "section", "summary", "html",
}  # fmt: skip
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_WS = re.compile(r"[ \t\n\r\f]+")
_BREAK = "\x0b"  # a <br> inside a paragraph, kept through whitespace folding
_LANG_CLASS = re.compile(r"(?:language|lang|highlight-source|highlight)-([\w+#.-]+)")
_META_FIELDS = {"description", "keywords", "author", "doc_type", "og:description", "og:site_name"}
_MAX_DEPTH = 200  # deeper nesting is flattened to text instead of recursed into


def parse_html(markup: str) -> Parsed:
    tree = LexborHTMLParser(markup)
    metadata = _metadata(tree)
    root = _content_root(tree)
    if root is None:
        return Parsed(metadata.pop("og:title", None), "", metadata)
    _remove_noise(root)
    h1 = root.css_first("h1")
    title = (h1.text(deep=True) if h1 is not None else None) or metadata.get("og:title")
    title = title or _text_of(tree.css_first("head > title"))
    metadata.pop("og:title", None)
    writer = _Writer()
    writer.walk(root, 0)
    return Parsed(title, "\n\n".join(writer.finish()), metadata)


def _text_of(node: LexborNode | None) -> str | None:
    return node.text(deep=True).strip() or None if node is not None else None


def _metadata(tree: LexborHTMLParser) -> dict[str, str]:
    out: dict[str, str] = {}
    html = tree.css_first("html")
    lang = (html.attributes.get("lang") or "") if html is not None else ""
    if lang.strip():
        out["lang"] = lang.strip()
    for meta in tree.css("meta"):
        key = (meta.attributes.get("name") or meta.attributes.get("property") or "").strip().lower()
        value = _WS.sub(" ", meta.attributes.get("content") or "").strip()
        if value and (key in _META_FIELDS or key == "og:title") and key not in out:
            out[key] = value
    if "description" not in out and "og:description" in out:
        out["description"] = out["og:description"]
    out.pop("og:description", None)
    if "og:site_name" in out:
        out["site_name"] = out.pop("og:site_name")
    if "keywords" in out:
        out["tags"] = out.pop("keywords")
    canonical = tree.css_first("link[rel=canonical]")
    if canonical is not None and canonical.attributes.get("href"):
        out["canonical_url"] = canonical.attributes["href"] or ""
    return out


def _content_root(tree: LexborHTMLParser) -> LexborNode | None:
    for selector in ("main", "[role=main]"):
        node = tree.css_first(selector)
        if node is not None and node.text(deep=True).strip():
            return node
    articles = tree.css("article")
    if len(articles) == 1 and articles[0].text(deep=True).strip():
        return articles[0]
    return tree.body


def _is_noise(node: LexborNode) -> bool:
    attrs = node.attributes
    tokens = f"{attrs.get('class') or ''} {attrs.get('id') or ''}".lower().split()
    if any(_noise_token(t) for t in tokens):
        return True
    style = (attrs.get("style") or "").replace(" ", "").lower()
    if "display:none" in style or "visibility:hidden" in style:
        return True
    if node.tag == "a" and (attrs.get("href") or "").startswith("#"):
        return bool(_SKIP_LINK.match(node.text(deep=True)))
    if node.tag == "header":
        # A page banner goes; an article's own header (its title, date) stays.
        return not node.css_first("h1, h2, h3, h4, h5, h6") or not _inside_sectioning(node)
    return False


def _noise_token(token: str) -> bool:
    # "navheader", "navfooter" (DocBook), "site-nav", "cookie-banner", "breadcrumbs-wrapper"...
    return (
        token in _NOISE_TOKENS
        or token.startswith(("nav", "share", "social"))
        or token.endswith(("-nav", "_nav", "-menu", "-sidebar", "-toc"))
        or any(part in token for part in _NOISE_PARTS)
    )


def _inside_sectioning(node: LexborNode) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.tag in ("article", "section", "main"):
            return True
        parent = parent.parent
    return False


def _remove_noise(root: LexborNode) -> None:
    doomed = [n for n in root.css(_DROP) if n is not root]
    doomed += [n for n in root.css("[class], [id], [style], a, header") if n is not root and _is_noise(n)]
    unique = {n.mem_id: n for n in doomed}
    ids = set(unique)
    # Decompose each node once, and only the outermost: one inside a removed node is freed memory.
    outermost = [n for n in unique.values() if not _has_ancestor_in(n, ids)]
    for node in outermost:
        node.decompose()


def _has_ancestor_in(node: LexborNode, ids: set[int]) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.mem_id in ids:
            return True
        parent = parent.parent
    return False


class _Writer:
    """Walks a DOM subtree, collecting Markdown blocks; inline text gathers until a block ends."""

    def __init__(self) -> None:
        self.blocks: list[str] = []
        self.inline: list[str] = []

    def finish(self) -> list[str]:
        self.flush()
        return self.blocks

    def flush(self) -> None:
        text = _WS.sub(" ", "".join(self.inline)).replace(f" {_BREAK}", _BREAK).replace(f"{_BREAK} ", _BREAK)
        self.inline.clear()
        text = text.strip(" " + _BREAK).replace(_BREAK, "\n")
        if text:
            self.blocks.append(text)

    def walk(self, node: LexborNode, depth: int) -> None:
        child = node.first_child
        while child is not None:
            self.visit(child, depth + 1)
            child = child.next

    def visit(self, node: LexborNode, depth: int) -> None:
        tag = node.tag
        if tag == "-text":
            self.inline.append(node.text_content or "")
        elif tag is None or tag.startswith("-"):
            return  # comments, doctype
        elif depth > _MAX_DEPTH:
            self.inline.append(" " + node.text(deep=True, separator=" ") + " ")
        elif tag in _HEADINGS:
            self.block(("#" * _HEADINGS[tag]) + " " + _inline(node, depth).replace("\n", " "))
        elif tag in ("ul", "ol"):
            self.block(_list(node, depth))
        elif tag == "pre":
            self.block(_code_block(node))
        elif tag == "table":
            self.flush()
            self.blocks.extend(_table(node, depth))
        elif tag == "blockquote":
            inner = _blocks(node, depth)
            self.block("\n>\n".join("\n".join("> " + ln for ln in b.split("\n")) for b in inner))
        elif tag == "hr":
            self.flush()
        elif tag == "br":
            self.inline.append(_BREAK)
        elif tag == "img":
            alt = (node.attributes.get("alt") or "").strip()
            if alt:
                self.inline.append(f" {alt} ")
        elif tag == "code":
            code = node.text(deep=True)
            self.inline.append(f"`{code}`" if code.strip() and "\n" not in code.strip() else code)
        elif tag in _BLOCKS:
            self.flush()
            self.walk(node, depth)
            self.flush()
        else:
            self.walk(node, depth)

    def block(self, text: str) -> None:
        self.flush()
        if text.strip(" #>-"):
            self.blocks.append(text)


def _blocks(node: LexborNode, depth: int) -> list[str]:
    writer = _Writer()
    writer.walk(node, depth)
    return writer.finish()


def _inline(node: LexborNode, depth: int) -> str:
    return " ".join(_blocks(node, depth))


def _list(node: LexborNode, depth: int) -> str:
    ordered = node.tag == "ol"
    try:
        number = int(node.attributes.get("start") or 1)
    except ValueError:
        number = 1
    lines: list[str] = []
    child = node.first_child
    while child is not None:
        if child.tag in ("li", "ul", "ol"):
            inner = [_list(child, depth + 1)] if child.tag != "li" else _blocks(child, depth + 1)
            body = "\n".join(inner).split("\n")
            if child.tag == "li":
                marker = f"{number}. " if ordered else "- "
                number += 1
                lines.append(marker + body[0])
                lines.extend(" " * len(marker) + ln if ln else ln for ln in body[1:])
            else:
                lines.extend("  " + ln for ln in body)
        child = child.next
    return "\n".join(ln for ln in lines if ln.strip() not in ("-", "")).rstrip()


def _code_block(node: LexborNode) -> str:
    code = node.text(deep=True)
    classes = " ".join(
        n.attributes.get("class") or "" for n in (node, node.css_first("code"), node.parent) if n is not None
    )
    lang = _LANG_CLASS.search(classes)
    return fence(code.strip("\n"), lang.group(1) if lang else "")


def _table(node: LexborNode, depth: int) -> list[str]:
    rows: list[list[str]] = []
    for tr in node.css("tr"):
        owner = tr.parent
        while owner is not None and owner.tag != "table":
            owner = owner.parent
        if owner is None or owner.mem_id != node.mem_id:
            continue  # a row of a nested table: written with its own cell
        cells = []
        cell = tr.first_child
        while cell is not None:
            if cell.tag in ("td", "th"):
                text = " ".join(_blocks(cell, depth + 1)).replace("\n- ", "; ").replace("\n", " ")
                cells.append(text.removeprefix("- ").replace("|", "\\|").strip())
            cell = cell.next
        if any(cells):
            rows.append(cells)
    width = max((len(r) for r in rows), default=0)
    if width <= 1:  # a layout table: its cells are just blocks
        return _blocks(node, depth)
    rows = [r + [""] * (width - len(r)) for r in rows]
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + " --- |" * width]
    lines.extend("| " + " | ".join(r) + " |" for r in rows[1:])
    return ["\n".join(lines)]
