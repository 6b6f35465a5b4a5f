"""Choosing what the model reads: the 3-6 best chunks that fit the token budget, near-duplicates
dropped, each numbered so the answer can cite it as [n]. ``core.answer.compress`` then keeps
the parts of them that bear on the question."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.models import Chunk, Hit, Source
from core.text import WORD_RE

__all__ = ["ContextItem", "select_context", "shingles", "to_sources", "source_url"]


@dataclass(frozen=True)
class ContextItem:
    """One numbered passage of the prompt: a whole chunk, or the parts of one section of a chunk
    that compression kept (``text``), under that section's headings (``section``)."""

    n: int
    chunk: Chunk
    text: str = ""  # what the model is shown; empty: the whole chunk
    section: str = ""  # where that text sits (title › headings); empty: the chunk's own section

    def __post_init__(self) -> None:
        if not self.text:
            object.__setattr__(self, "text", self.chunk.text)
        if not self.section:
            object.__setattr__(self, "section", self.chunk.section)


def shingles(text: str, size: int = 3) -> set[tuple[str, ...]]:
    """Runs of ``size`` consecutive words, case-folded: what near-duplicates and copied text share."""
    words = [w.casefold() for w in WORD_RE.findall(text) if w.isalnum()]
    return {tuple(words[i : i + size]) for i in range(max(len(words) - size + 1, 1))}


def _near_duplicate(a: set[tuple[str, ...]], b: set[tuple[str, ...]], threshold: float = 0.8) -> bool:
    if not a or not b:
        return False
    return len(a & b) / min(len(a), len(b)) >= threshold


def select_context(
    hits: Sequence[Hit], *, min_chunks: int, max_chunks: int, token_budget: int
) -> list[ContextItem]:
    """Best first; a chunk that would overflow the budget is skipped unless fewer than
    ``min_chunks`` are chosen yet (the spec's floor: 3 chunks beat an empty context)."""
    chosen: list[Chunk] = []
    prints: list[set[tuple[str, ...]]] = []
    used = 0
    for hit in hits:
        if len(chosen) >= max_chunks:
            break
        fp = shingles(hit.chunk.text)
        if any(_near_duplicate(fp, other) for other in prints):
            continue
        cost = hit.chunk.n_tokens or len(hit.chunk.text) // 4
        if used + cost > token_budget and len(chosen) >= min_chunks:
            continue
        chosen.append(hit.chunk)
        prints.append(fp)
        used += cost
    return [ContextItem(n, chunk) for n, chunk in enumerate(chosen, start=1)]


def source_url(location: str) -> str | None:
    """A link people can open: http(s) URLs only (a server path means nothing in chat)."""
    return location if location.startswith(("http://", "https://")) else None


def to_sources(items: Sequence[ContextItem], cited: set[int] | None = None) -> tuple[Source, ...]:
    """One Source per context item, under the number the model was shown.

    ``cited`` holds the numbers the answer cited; None (or empty) marks every source uncited."""
    sources: list[Source] = []
    for item in items:
        c = item.chunk
        sources.append(
            Source(
                n=item.n,
                doc_id=c.doc_id,
                title=c.title,
                section=item.section,
                location=c.source,
                url=source_url(c.source),
                doc_type=c.doc_type,
                cited=bool(cited) and item.n in cited,
                chunk_id=c.chunk_id,
            )
        )
    return tuple(sources)
