"""Cutting a document into passages of 300-600 tokens along its headings and paragraphs.

Pure: text in, chunks out. The spec asks for 3-6 context chunks of 300-600 tokens, so a chunk
grows until it reaches ``target`` tokens, ends at a heading or paragraph boundary, never exceeds
``max_tokens`` (an oversized paragraph is cut at sentence, then word boundaries), and a section
too short to stand alone is merged with the next one. Where a cut falls inside a section, the
next chunk starts with the last sentences of the previous one (``overlap`` tokens), so a fact
that straddles the cut is whole in at least one chunk.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from core.models import Chunk, Document
from core.text import estimate_tokens

__all__ = ["ChunkingConfig", "chunk_document", "split_sections"]

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[\"'«(\[]?[A-ZА-ЯЁ0-9])|\n+")


@dataclass(frozen=True)
class ChunkingConfig:
    target_tokens: int = 420
    max_tokens: int = 600
    min_tokens: int = 300
    overlap_tokens: int = 40


@dataclass(frozen=True)
class _Block:
    text: str
    tokens: int
    heading: bool = False  # the block is a heading line


@dataclass(frozen=True)
class _Section:
    path: tuple[str, ...]
    blocks: tuple[_Block, ...]


def _blocks(lines: list[str], count: Callable[[str], int]) -> Iterator[_Block]:
    """Paragraphs separated by blank lines; a fenced code block is one block whatever it holds."""
    buf: list[str] = []
    in_fence = False
    for line in lines:
        if _FENCE.match(line):
            in_fence = not in_fence
            buf.append(line)
            if not in_fence:  # a closed fence ends the block
                yield _Block("\n".join(buf), count("\n".join(buf)))
                buf = []
            continue
        if not in_fence and not line.strip():
            if buf:
                yield _Block("\n".join(buf), count("\n".join(buf)))
                buf = []
            continue
        buf.append(line)
    if buf:
        yield _Block("\n".join(buf), count("\n".join(buf)))


def split_sections(text: str, count: Callable[[str], int] = estimate_tokens) -> list[_Section]:
    """Split Markdown-flavoured text at headings; each section knows its heading path."""
    sections: list[_Section] = []
    stack: list[tuple[int, str]] = []
    lines: list[str] = []
    heading_line: str | None = None
    in_fence = False

    def flush() -> None:
        blocks = list(_blocks(lines, count))
        if heading_line is not None:
            blocks.insert(0, _Block(heading_line, count(heading_line), heading=True))
        if blocks:
            sections.append(_Section(tuple(h for _, h in stack), tuple(blocks)))

    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        m = None if in_fence else _HEADING.match(line)
        if m:
            flush()
            level, title = len(m.group(1)), m.group(2).strip()
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, title))
            heading_line, lines = line.strip(), []
        else:
            lines.append(line)
    flush()
    return sections


def _pieces(block: _Block, limit: int, count: Callable[[str], int]) -> Iterator[_Block]:
    """Cut an oversized block at sentence or line ends, then at words, to at most ``limit``."""
    if block.tokens <= limit:
        yield block
        return
    parts = [p for p in _SENTENCE_END.split(block.text) if p.strip()]
    joiner = "\n" if "\n" in block.text else " "
    if len(parts) == 1:  # one endless sentence: words are all we can cut at
        parts, joiner = block.text.split(" "), " "
        if len(parts) == 1:
            yield block
            return
    buf: list[str] = []
    for part in parts:
        if count(part) > limit:
            if buf:
                yield _Block(joiner.join(buf), count(joiner.join(buf)))
                buf = []
            yield from _pieces(_Block(part, count(part)), limit, count)
            continue
        if buf and count(joiner.join([*buf, part])) > limit:
            yield _Block(joiner.join(buf), count(joiner.join(buf)))
            buf = []
        buf.append(part)
    if buf:
        yield _Block(joiner.join(buf), count(joiner.join(buf)))


def _tail(blocks: list[_Block], overlap: int, count: Callable[[str], int]) -> list[_Block]:
    """The last sentences of ``blocks``, about ``overlap`` tokens, for the next chunk to start with."""
    if overlap <= 0 or not blocks or blocks[-1].heading:
        return []
    last = blocks[-1].text
    sentences = [s for s in _SENTENCE_END.split(last) if s.strip()]
    picked: list[str] = []
    for sentence in reversed(sentences):
        if picked and count(" ".join([sentence, *picked])) > overlap:
            break
        picked.insert(0, sentence)
    text = " ".join(picked)
    if count(text) > overlap * 2:  # one huge sentence: no overlap rather than a near-duplicate chunk
        return []
    return [_Block(text, count(text))]


def chunk_document(
    doc: Document,
    space_id: str,
    config: ChunkingConfig = ChunkingConfig(),
    count: Callable[[str], int] = estimate_tokens,
) -> list[Chunk]:
    sections = split_sections(doc.text, count)
    out: list[tuple[tuple[str, ...], list[_Block]]] = []
    cur: list[_Block] = []
    cur_path: tuple[str, ...] = ()

    def size(blocks: list[_Block]) -> int:
        return count("\n\n".join(b.text for b in blocks)) if blocks else 0

    def emit(overlap: bool) -> None:
        nonlocal cur
        if any(not b.heading for b in cur):
            out.append((cur_path, cur))
            cur = _tail(cur, config.overlap_tokens, count) if overlap else []
        # a chunk of headings only carries no content: keep it to prefix the next one

    for section in sections:
        # a section boundary is the natural place to cut, once the chunk is big enough
        if cur and size(cur) >= config.min_tokens:
            emit(overlap=False)
        if not cur or all(b.heading for b in cur):
            cur_path = section.path
        for block in section.blocks:
            for piece in _pieces(block, config.target_tokens, count):
                if cur and size(cur) + piece.tokens > config.max_tokens:
                    emit(overlap=True)
                    if not cur:
                        cur_path = section.path
                cur.append(piece)
                if size(cur) >= config.target_tokens and not piece.heading:
                    emit(overlap=True)
                    if not cur:
                        cur_path = section.path
    if any(not b.heading for b in cur):
        out.append((cur_path, cur))

    # a short last chunk is merged back into the previous one when the two fit
    if len(out) >= 2:
        (p1, b1), (_, b2) = out[-2], out[-1]
        if size(b2) < config.min_tokens and size(b1) + size(b2) <= config.max_tokens:
            tail_overlap = _tail(b1, config.overlap_tokens, count)
            if tail_overlap and b2 and b2[0].text == tail_overlap[0].text:
                b2 = b2[1:]
            out[-2:] = [(p1, b1 + b2)]

    chunks = []
    for position, (path, blocks) in enumerate(out):
        text = "\n\n".join(b.text for b in blocks).strip()
        chunks.append(
            Chunk(
                space_id=space_id,
                doc_id=doc.doc_id,
                version=doc.content_hash,
                position=position,
                title=doc.title,
                heading_path=path,
                text=text,
                source=doc.source,
                doc_type=doc.doc_type or "unknown",
                lang=doc.lang,
                n_tokens=count(text),
            )
        )
    return chunks
