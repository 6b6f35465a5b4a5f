"""Fusing ranked lists from several retrievers into one. Pure functions.

BM25 and cosine scores live on different scales, so they are never added raw. ``zscore`` (the
default) standardises each retriever's scores over its own candidates and adds them, weighted:
it keeps how far a candidate stands out, which rank-only fusion throws away. ``rrf``
(reciprocal rank fusion, Cormack et al. 2009) uses ranks only. Measured side by side on the
three eval sets in docs/retrieval.md.

Both take an optional ``boost``: a chunk -> a number added to its fused score, in units of one
standard deviation (z-score) or of one first place in one list (RRF). Votes use it
(core/retrieval/feedback.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from core.models import Chunk, Hit, ScoredChunk

__all__ = ["rrf", "zscore", "dedupe", "Boost"]

Boost = Callable[[Chunk], float]


def rrf(
    ranked: Mapping[str, Sequence[ScoredChunk]],
    *,
    k: int = 60,
    weights: Mapping[str, float] | None = None,
    boost: Boost | None = None,
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
    if boost is not None:
        for cid, chunk in chunks.items():
            scores[cid] += boost(chunk) / (k + 1)
    order = sorted(scores, key=lambda cid: (-scores[cid], cid))
    return [Hit(chunks[cid], scores[cid], ranks[cid]) for cid in order]


def zscore(
    ranked: Mapping[str, Sequence[ScoredChunk]],
    *,
    weights: Mapping[str, float] | None = None,
    boost: Boost | None = None,
) -> list[Hit]:
    """score = sum over retrievers of w * (s - mean) / std over that retriever's candidates; a
    candidate a retriever did not return counts as that retriever's lowest candidate."""
    z: dict[str, dict[str, float]] = {}
    ranks: dict[str, dict[str, int]] = {}
    chunks = {}
    for name, results in ranked.items():
        scores = {}
        for rank, scored in enumerate(results, start=1):
            cid = scored.chunk.chunk_id
            if cid in scores:
                continue  # a retriever listing a chunk twice counts once, at its best rank
            scores[cid] = scored.score
            chunks[cid] = scored.chunk
            ranks.setdefault(cid, {})[name] = rank
        if not scores:
            continue
        values = list(scores.values())
        mean = sum(values) / len(values)
        std = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5 or 1.0
        z[name] = {cid: (v - mean) / std for cid, v in scores.items()}
    fused = {}
    for cid in chunks:
        total = 0.0
        for name, table in z.items():
            weight = 1.0 if weights is None else weights.get(name, 1.0)
            total += weight * table.get(cid, min(table.values()))
        fused[cid] = total + (boost(chunks[cid]) if boost is not None else 0.0)
    order = sorted(fused, key=lambda cid: (-fused[cid], cid))
    return [Hit(chunks[cid], fused[cid], ranks[cid]) for cid in order]


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
