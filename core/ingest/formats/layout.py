"""The shape every extracted text ends in: fenced code blocks kept verbatim, everything else
with tidy whitespace, headings on their own lines, at most one blank line between blocks.
The chunker relies on this shape, so all formats go through ``normalise``."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["Segment", "split_fences", "normalise", "clean_title", "fence"]

_FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_ODD_SPACES = re.compile("[\u00a0\u2007\u202f\u3000]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_INNER_SPACES = re.compile(r"(?<=\S) {2,}")
_TABLE_RULE = re.compile(r"^\|?(\s*:?-{3,}:?\s*\|)+\s*:?-*:?\s*$")
_HEADING = re.compile(r"^#{1,6} \S")
_MARKUP_IN_TITLE = re.compile(r"\*\*|__|`")


class Segment:
    """A stretch of text: either one fenced code block (``code``) or prose between blocks."""

    __slots__ = ("text", "code")

    def __init__(self, text: str, code: bool) -> None:
        self.text = text
        self.code = code


def fence(code: str, info: str = "") -> str:
    """A fenced block for ``code``, with a fence longer than any backtick run inside it."""
    longest = max((len(m) for m in re.findall(r"`{3,}", code)), default=2)
    marks = "`" * max(3, longest + 1)
    return f"{marks}{info.strip()}\n{code.rstrip(chr(10))}\n{marks}"


def split_fences(text: str) -> list[Segment]:
    """Split Markdown into prose and fenced code blocks. Fences inside list items are indented;
    the block is dedented to the fence's column so that every fence starts a line. An unclosed
    fence runs to the end of the text, as in CommonMark."""
    segments: list[Segment] = []
    prose: list[str] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        opened = _FENCE_OPEN.match(lines[i])
        if opened is None or (opened["fence"][0] == "`" and "`" in opened["info"]):
            prose.append(lines[i])
            i += 1
            continue
        indent, marks = len(opened["indent"].expandtabs(4)), opened["fence"]
        closing = re.compile(rf"^[ \t]*{re.escape(marks[0])}{{{len(marks)},}}[ \t]*$")
        body: list[str] = []
        i += 1
        while i < len(lines) and not closing.match(lines[i]):
            body.append(_dedent(lines[i], indent))
            i += 1
        i += 1  # the closing fence
        if prose:
            segments.append(Segment("\n".join(prose), code=False))
            prose = []
        info = opened["info"].strip().split()
        segments.append(Segment(fence("\n".join(body), info[0] if info else ""), code=True))
    if prose:
        segments.append(Segment("\n".join(prose), code=False))
    return segments


def _dedent(line: str, width: int) -> str:
    expanded = line.expandtabs(4)
    strip = min(width, len(expanded) - len(expanded.lstrip(" ")))
    return expanded[strip:]


def normalise(text: str) -> str:
    """Unicode NFC, no invisible or control characters, no trailing spaces, single spaces
    inside lines (indentation kept for nested lists), short table rules, headings set apart by
    blank lines, no runs of blank lines. Code blocks keep their characters and spacing."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _INVISIBLE.sub("", text)
    blocks: list[str] = []
    for segment in split_fences(text):
        if segment.code:
            blocks.append(segment.text)
            continue
        prose = _tidy_prose(segment.text)
        if prose:
            blocks.append(prose)
    return "\n\n".join(blocks).strip()


def _tidy_prose(text: str) -> str:
    out: list[str] = []
    text = _ODD_SPACES.sub(" ", text.replace("\t", "    "))
    for raw in _CONTROL.sub("", text).split("\n"):
        line = _INNER_SPACES.sub(" ", raw.rstrip())
        if line.startswith(" ") and not line.startswith("  "):
            line = line[1:]  # one space of indent means nothing in Markdown; it is a stray
        if _TABLE_RULE.match(line.strip()):
            line = re.sub(r"-{3,}", "---", line)
        if _HEADING.match(line):
            out.extend(["", line, ""])
        else:
            out.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip("\n")


def clean_title(title: object) -> str | None:
    """A title as people should see it: one line, no Markdown emphasis or code marks."""
    if not isinstance(title, str):
        return None
    title = _MARKUP_IN_TITLE.sub("", unicodedata.normalize("NFC", title))
    title = " ".join(_INVISIBLE.sub("", title).split())
    return title[:300] or None
