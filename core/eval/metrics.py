"""Ranking metrics at document level. Pure functions.

A document's rank is the rank of its best chunk, so chunking choices cannot inflate scores by
returning the same document several times."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

__all__ = ["doc_ranking", "recall_at", "mrr_at", "ndcg_at"]


def doc_ranking(chunk_doc_ids: Sequence[str]) -> list[str]:
    """Chunk results (best first) -> distinct documents in order of their best chunk."""
    seen: dict[str, None] = {}
    for doc_id in chunk_doc_ids:
        seen.setdefault(doc_id, None)
    return list(seen)


def recall_at(ranking: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    positives = {d for d, r in relevant.items() if r > 0}
    if not positives:
        return 0.0
    return len(positives & set(ranking[:k])) / len(positives)


def mrr_at(ranking: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    for i, doc_id in enumerate(ranking[:k], start=1):
        if relevant.get(doc_id, 0) > 0:
            return 1.0 / i
    return 0.0


def ndcg_at(ranking: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    """nDCG with graded gains 2^rel - 1 (the BEIR / trec_eval convention)."""
    dcg = sum((2 ** relevant.get(d, 0) - 1) / math.log2(i + 1) for i, d in enumerate(ranking[:k], start=1))
    ideal = sorted((r for r in relevant.values() if r > 0), reverse=True)[:k]
    idcg = sum((2**r - 1) / math.log2(i + 1) for i, r in enumerate(ideal, start=1))
    return dcg / idcg if idcg > 0 else 0.0
