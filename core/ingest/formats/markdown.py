"""Markdown as found in real documentation repositories -> clean Markdown.

Removes what only a site generator understands (YAML/TOML front matter, Hugo shortcodes,
Liquid tags, HTML comments, inline HTML, kramdown attributes, MDX imports) and what only a
browser needs (link targets, image files, named anchors), while keeping headings, lists,
tables and fenced code. Code spans and blocks are never touched: ``<node-name>`` or
``{{ .Values }}`` inside them is content."""

from __future__ import annotations

import datetime as dt
import html
import re
import tomllib

import yaml

from core.ingest.formats import Parsed
from core.ingest.formats.layout import split_fences

__all__ = ["parse_markdown", "split_front_matter"]

_FRONT_MATTER = re.compile(
    r"\A\s*(?:(?P<yaml>---)[ \t]*\n(?P<y>(?:.*?\n)?)(?:---|\.\.\.)|(?P<toml>\+\+\+)[ \t]*\n(?P<t>(?:.*?\n)?)\+\+\+)"
    r"[ \t]*(?:\n|\Z)",
    re.DOTALL,
)
# Placeholders for protected code spans: private-use characters that no document contains.
_HOLD_OPEN, _HOLD_CLOSE = "\ue000", "\ue001"
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)((?:(?!\n[ \t]*\n).)+?)(?<!`)\1(?!`)", re.DOTALL)
_HELD = re.compile(f"{_HOLD_OPEN}(\\d+){_HOLD_CLOSE}")

_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_SCRIPT_STYLE = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.DOTALL | re.IGNORECASE)
_LIQUID_COMMENT = re.compile(r"{%-?\s*comment\s*-?%}.*?{%-?\s*endcomment\s*-?%}", re.DOTALL)
_TEMPLATE_COMMENT = re.compile(r"{{-?\s*/\*.*?\*/\s*-?}}", re.DOTALL)
# {{< shortcode ... >}}, {{% shortcode %}}, {% liquid tag %}, {{ liquid output }}: the tags
# go, the text between an opening and a closing shortcode stays.
_TEMPLATE_TAG = re.compile(r"{{<[^\n]{0,500}?>}}|{{%[^\n]{0,500}?%}}|{%[^\n]{0,500}?%}|{{[^\n]{0,500}?}}")

# Link and image syntax, with every repetition bounded and nested brackets excluded from the
# inner classes, so that pathological input ("[" * 20000) costs linear time, not quadratic.
_BRACKETED = r"(?:[^\[\]\\\n]|\\.|\[[^\[\]\n]{0,200}\]|\n(?![ \t]*\n)){0,1000}"
_TARGET = r"(?:\((?:[^()\s]|\([^()\s]{0,200}\)){0,2000}(?:[ \t]+[\"'(][^\n]{0,300}?[\"')])?[ \t]*\)|\[[^\[\]\n]{0,200}\])"
_IMAGE = re.compile(rf"!\[(?P<alt>{_BRACKETED})\]{_TARGET}")
_LINK = re.compile(rf"\[(?P<text>{_BRACKETED})\]{_TARGET}")
_AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^<>\s]+)>", re.IGNORECASE)
_LINK_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s+\S+.*$", re.MULTILINE)
_IMG_TAG = re.compile(
    r"<img\b[^>]*?\balt\s*=\s*(?P<q>[\"'])(?P<alt>.*?)(?P=q)[^>]*>|<img\b[^>]*>", re.IGNORECASE | re.DOTALL
)
_JUNK_ALT = {"", "image", "image not found", "[image not found]", "[]", "img", "picture"}

_HTML_TAGS = (
    "a|abbr|acronym|address|article|aside|b|bdi|bdo|big|blockquote|body|br|button|caption|center|cite|"
    "code|col|colgroup|dd|del|details|dfn|div|dl|dt|em|figcaption|figure|font|footer|h[1-6]|head|header|"
    "hr|html|i|iframe|img|input|ins|kbd|label|li|main|mark|nav|nobr|ol|p|picture|pre|q|s|samp|section|"
    "small|source|span|strike|strong|sub|summary|sup|table|tbody|td|tfoot|th|thead|tr|tt|u|ul|var|video|wbr"
)
_TAG = re.compile(rf"</?(?:{_HTML_TAGS})(?:\s[^<>]*)?/?>", re.IGNORECASE)
_BLOCK_TAG = re.compile(
    r"</?(?:p|div|section|article|details|summary|blockquote|h[1-6]|table|tr|ul|ol|dl|dd|dt|hr)\b[^<>]*>|<br\s*/?>",
    re.IGNORECASE,
)
_LI_TAG = re.compile(r"<li\b[^<>]*>", re.IGNORECASE)
_TABLE_LIST_SEP = re.compile(r"</li>\s*<li\b[^<>]*>", re.IGNORECASE)
_JSX_TAG = re.compile(r"</?[A-Z][A-Za-z0-9_.]*(?:\s[^<>]*)?/?>")
_MDX_STATEMENT = re.compile(r"^(?:import|export)\s.*$", re.MULTILINE)
_ATTRIBUTE_LIST = re.compile(r"[ \t]*{:[^}\n]*}|[ \t]*{#[\w:.-]+(?:\s+[.\w=\"'-]+)*}")

_ESCAPED = re.compile(r"\\([!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{}~])")
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-{2,})[ \t]*$")
_THEMATIC_BREAK = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_BULLET = re.compile(r"^(\s*)[*+](?=[ \t]+\S)[ \t]+")
_BOX_LABEL = re.compile(r"^\*\*(Note|Important|Tip|Warning|Caution|Примечание|Важно|Внимание)\*\*:?[ \t]*$")


def split_front_matter(text: str) -> tuple[dict[str, str], str | None, str]:
    """(scalar metadata, title, text without the front matter). A block that does not parse
    to a mapping is not front matter (a document may start with a rule) and stays."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        return {}, None, text
    try:
        data = yaml.safe_load(match["y"]) if match["yaml"] else tomllib.loads(match["t"])
    except (yaml.YAMLError, tomllib.TOMLDecodeError, ValueError):
        return {}, None, text
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return {}, None, text
    metadata = {str(k): v for k, v in ((k, _scalar(v)) for k, v in data.items()) if v is not None}
    return metadata, metadata.get("title"), text[match.end() :]


def _scalar(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value).strip()
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, list) and value and all(isinstance(v, str | int | float) for v in value):
        return ", ".join(str(v).strip() for v in value)  # tags, keywords, aliases
    return None


def parse_markdown(text: str, *, mdx: bool = False) -> Parsed:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    metadata, title, body = split_front_matter(text)
    parts = [seg.text if seg.code else _clean_prose(seg.text, mdx=mdx) for seg in split_fences(body)]
    cleaned = "\n\n".join(p for p in parts if p.strip())
    if not title:
        title = _first_h1(parts)
    return Parsed(title, cleaned, metadata)


def _first_h1(parts: list[str]) -> str | None:
    for part in parts:
        if part.startswith("`"):
            continue
        match = re.search(r"^# (.+)$", part, re.MULTILINE)
        if match:
            return match.group(1)
    return None


def _clean_prose(text: str, *, mdx: bool) -> str:
    held: list[str] = []

    def hold(match: re.Match[str]) -> str:
        held.append(match.group(0))
        return f"{_HOLD_OPEN}{len(held) - 1}{_HOLD_CLOSE}"

    text = _CODE_SPAN.sub(hold, text)
    text = _HTML_COMMENT.sub("", text)
    text = _SCRIPT_STYLE.sub("", text)
    text = _LIQUID_COMMENT.sub("", text)
    text = _TEMPLATE_COMMENT.sub("", text)
    text = _TEMPLATE_TAG.sub("", text)
    if mdx:
        text = _MDX_STATEMENT.sub("", text)
        text = _JSX_TAG.sub("", text)
    text = _LINK_DEFINITION.sub("", text)
    text = _IMAGE.sub(lambda m: _alt(m["alt"]), text)
    text = _IMG_TAG.sub(lambda m: _alt(m["alt"] or ""), text)
    text = _LINK.sub(lambda m: m["text"], text)
    text = _LINK.sub(lambda m: m["text"], text)  # a link around an image's alt text, or nested
    text = _AUTOLINK.sub(r"\1", text)
    text = _strip_html(text)
    text = _ATTRIBUTE_LIST.sub("", text)
    text = "\n".join(_lines(text.split("\n")))
    text = _unescape(text)
    return _HELD.sub(lambda m: held[int(m.group(1))], text)


def _alt(alt: str) -> str:
    alt = _ESCAPED.sub(r"\1", alt).strip()
    return "" if alt.lower().strip("[] ") in _JUNK_ALT else alt


def _strip_html(text: str) -> str:
    """Inline HTML goes, its text stays. Only real HTML tag names count: ``<vg>`` or
    ``<node-name>`` in prose are placeholders and stay. Inside a table row, list items become
    "; " so the row stays one line."""
    lines = []
    for line in text.split("\n"):
        if line.lstrip().startswith("|"):
            line = _TABLE_LIST_SEP.sub("; ", line)
            line = re.sub(r"<br\s*/?>", " ", line, flags=re.IGNORECASE)
        else:
            line = _LI_TAG.sub("\n- ", line)
            line = _BLOCK_TAG.sub("\n\n", line)
        lines.append(_TAG.sub("", line))
    return "\n".join(lines)


def _lines(lines: list[str]) -> list[str]:
    """Line-level rewrites: setext headings to ATX, ``+``/``*`` bullets to ``-``, rules
    dropped, trailing ``#`` of headings dropped, AWS "**Note**" boxes joined to their text."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        following = lines[i + 1] if i + 1 < len(lines) else ""
        setext = _SETEXT.match(following)
        if setext and line.strip() and not _is_block_start(line):
            out.append(("# " if setext.group(1)[0] == "=" else "## ") + line.strip())
            i += 2
            continue
        if _THEMATIC_BREAK.match(line):
            out.append("")
            i += 1
            continue
        heading = _HEADING.match(line)
        if heading:
            if heading.group(2).strip():  # a heading that held only a shortcode or an anchor goes
                out.append(f"{heading.group(1)} {heading.group(2).strip()}")
            i += 1
            continue
        box = _BOX_LABEL.match(line.strip())
        if box and following.strip():
            out.append(f"**{box.group(1)}:** {following.strip()}")
            i += 2
            continue
        out.append(_BULLET.sub(r"\1- ", line))
        i += 1
    return out


def _is_block_start(line: str) -> bool:
    stripped = line.lstrip()
    return stripped.startswith(("#", "|", ">", "- ", "* ", "+ ")) or bool(re.match(r"\d+[.)]\s", stripped))


def _unescape(text: str) -> str:
    """Backslash escapes and HTML entities, except ``\\|`` inside table rows (a cell's pipe)."""
    lines = []
    for line in text.split("\n"):
        if line.lstrip().startswith("|"):
            line = re.sub(
                r"\\([^|])", lambda m: m.group(1) if _ESCAPED.match(m.group(0)) else m.group(0), line
            )
        else:
            line = _ESCAPED.sub(r"\1", line)
        lines.append(html.unescape(line) if "&" in line else line)
    return "\n".join(lines)
