"""An answer as Telegram messages: the text, then its numbered sources, split to fit."""

from __future__ import annotations

from bot.chat.markdown import Block, Bold, Inline, Link, Paragraph, Text, parse_blocks
from bot.chat.sources import sources_for
from bot.chat.verified import verified_note
from bot.telegram.html import MESSAGE_LIMIT, split_html
from core.models import Answer

__all__ = ["answer_parts", "preview_html", "markdown_parts"]

# Room kept free in a streaming preview for the "…" that says it is not finished.
_PREVIEW_MARK = " …"


def _sources_block(answer: Answer) -> Block | None:
    shown = sources_for(answer)
    if not shown.sources:
        return None
    inlines: list[Inline] = [Bold((Text(shown.heading),))]
    for source in shown.sources:
        title = source.title or source.location
        inlines.append(Text(f"\n{source.n}. "))
        inlines.append(Link((Text(title),), source.url) if source.url else Text(title))
        # the section is "Title › Heading › …": show where in the document, once
        rest = source.section.removeprefix(source.title).lstrip(" ›") if source.section else ""
        if rest:
            inlines.append(Text(f" › {rest}"))
    return Paragraph(tuple(inlines))


def answer_parts(answer: Answer, limit: int = MESSAGE_LIMIT) -> list[str]:
    """The final answer as HTML messages (at least one), sources at the end of the last; an
    answer from a verified answer opens with who verified it and when."""
    note = verified_note(answer)
    blocks = [*(parse_blocks(note) if note else []), *parse_blocks(answer.text)]
    sources = _sources_block(answer)
    if sources is not None:
        blocks.append(sources)
    return split_html(blocks, limit) or ["…"]


def markdown_parts(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Any Markdown reply (command output, hints) as HTML messages."""
    return split_html(parse_blocks(text), limit) or ["…"]


def preview_html(text: str, *, mark: bool, limit: int = MESSAGE_LIMIT) -> str:
    """The answer so far, for a draft or an edited placeholder: the first message's worth
    (the whole answer arrives with the final message), optionally marked as unfinished."""
    room = limit - len(_PREVIEW_MARK)
    parts = split_html(parse_blocks(text), room)
    first = parts[0] if parts else "…"
    return first + _PREVIEW_MARK if mark or len(parts) > 1 else first
