"""Fusing ranked lists from several retrievers into one. Pure functions.

Reciprocal rank fusion (Cormack et al. 2009) needs no score calibration between BM25 and cosine,
which differ in scale per query; each retriever gets a weight, tuned on the eval sets
(docs/BENCHMARKS.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from core.models import Hit, ScoredChunk

__all__ = ["rrf", "dedupe"]


def rrf(
    ranked: Mapping[str, Sequence[ScoredChunk]],
    *,
    k: int = 60,
    weights: Mapping[str, float] | None = None,
) -> list[Hit]:
    """Weighted reciprocal rank fusion: score = sum over retrievers of w / (k + rank)."""
    scores: dict[str, float] = {}
    ranks: dict[str, dict[str, int]] = {}
    chunks = {}
    for name, results in ranked.items():
        weight = 1.0 if weights is None else weights.get(name, 1.0)
        for rank, scored in enumerate(results, start=1):
            cid = scored.chunk.chunk_id
            if name in ranks.get(cid, {}):
                continue  # a retriever listing a chunk twice counts once, at its best rank
            chunks[cid] = scored.chunk
            ranks.setdefault(cid, {})[name] = rank
            scores[cid] = scores.get(cid, 0.0) + weight / (k + rank)
    order = sorted(scores, key=lambda cid: (-scores[cid], cid))
    return [Hit(chunks[cid], scores[cid], ranks[cid]) for cid in order]


def dedupe(hits: Sequence[Hit]) -> list[Hit]:
    """Drop hits whose text repeats a better hit's (the same paragraph in two documents)."""
    seen: set[str] = set()
    out = []
    for hit in hits:
        key = " ".join(hit.chunk.text.split()).casefold()
        if key in seen:
            continue
        seen.add(key)
        out.append(hit)
    return out
