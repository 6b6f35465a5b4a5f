"""In-memory reference implementations of VectorIndex and KeywordIndex: exact, slow, obvious.
The contract suites run over these and over the real Qdrant and Whoosh backends."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import AsyncIterator, Sequence

import numpy as np

from core.models import Chunk, ScoredChunk, SearchFilters
from core.text import WORD_RE

__all__ = ["MemoryVectorIndex", "MemoryKeywordIndex"]


def _matches(chunk: Chunk, filters: SearchFilters) -> bool:
    return chunk.space_id == filters.space_id and (
        filters.doc_type is None or chunk.doc_type == filters.doc_type
    )


class _ChunkTable:
    def __init__(self) -> None:
        self._chunks: dict[str, Chunk] = {}

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def _remove_where(self, pred) -> None:  # noqa: ANN001 - a predicate over chunks
        for cid in [cid for cid, c in self._chunks.items() if pred(c)]:
            del self._chunks[cid]
            self._forget(cid)

    def _forget(self, chunk_id: str) -> None:
        return None

    async def delete(self, space_id: str, doc_id: str, version: str | None = None) -> None:
        self._remove_where(
            lambda c: (
                c.space_id == space_id and c.doc_id == doc_id and (version is None or c.version == version)
            )
        )

    async def drop_space(self, space_id: str) -> None:
        self._remove_where(lambda c: c.space_id == space_id)

    async def count(self, space_id: str | None = None) -> int:
        return sum(1 for c in self._chunks.values() if space_id is None or c.space_id == space_id)


class MemoryVectorIndex(_ChunkTable):
    def __init__(self) -> None:
        super().__init__()
        self._vectors: dict[str, np.ndarray] = {}

    def _forget(self, chunk_id: str) -> None:
        self._vectors.pop(chunk_id, None)

    async def upsert(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk")
        for chunk, vector in zip(chunks, vectors, strict=True):
            self._chunks[chunk.chunk_id] = chunk
            self._vectors[chunk.chunk_id] = np.asarray(vector, dtype=np.float32)

    async def chunks(self, space_id: str, batch: int = 256) -> AsyncIterator[list[Chunk]]:
        mine = [c for c in self._chunks.values() if c.space_id == space_id]
        for start in range(0, len(mine), batch):
            yield mine[start : start + batch]

    async def search(self, vector: np.ndarray, filters: SearchFilters, limit: int) -> list[ScoredChunk]:
        q = np.asarray(vector, dtype=np.float32)
        q = q / (np.linalg.norm(q) or 1.0)
        scored = []
        for cid, chunk in self._chunks.items():
            if _matches(chunk, filters):
                v = self._vectors[cid]
                scored.append(ScoredChunk(chunk, float(v @ q / (np.linalg.norm(v) or 1.0))))
        scored.sort(key=lambda s: -s.score)
        return scored[:limit]


class MemoryKeywordIndex(_ChunkTable):
    """Plain BM25 (k1=1.2, b=0.75) over title, headings and text, lower-cased, no stemming."""

    backend = "memory"

    def __init__(self) -> None:
        super().__init__()
        self._terms: dict[str, Counter[str]] = {}

    def _forget(self, chunk_id: str) -> None:
        self._terms.pop(chunk_id, None)

    @staticmethod
    def _tokens(text: str) -> list[str]:
        return [w for w in WORD_RE.findall(text.lower()) if w.isalnum()]

    async def upsert(self, chunks: Sequence[Chunk]) -> None:
        for chunk in chunks:
            self._chunks[chunk.chunk_id] = chunk
            self._terms[chunk.chunk_id] = Counter(self._tokens(f"{chunk.section}\n{chunk.text}"))

    async def search(self, text: str, filters: SearchFilters, limit: int) -> list[ScoredChunk]:
        pool = [cid for cid, c in self._chunks.items() if _matches(c, filters)]
        if not pool:
            return []
        query = set(self._tokens(text))
        avg_len = sum(sum(self._terms[c].values()) for c in pool) / len(pool)
        scored = []
        for cid in pool:
            tf = self._terms[cid]
            length = sum(tf.values())
            score = 0.0
            for term in query:
                if tf[term]:
                    df = sum(1 for c in pool if self._terms[c][term])
                    idf = math.log(1 + (len(pool) - df + 0.5) / (df + 0.5))
                    score += idf * tf[term] * 2.2 / (tf[term] + 1.2 * (0.25 + 0.75 * length / avg_len))
            if score > 0:
                scored.append(ScoredChunk(self._chunks[cid], score))
        scored.sort(key=lambda s: -s.score)
        return scored[:limit]
