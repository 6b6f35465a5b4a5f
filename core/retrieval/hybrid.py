"""Hybrid retrieval: dense (Qdrant) and lexical (BM25F) under the same mandatory space filter,
restricted to live document versions, fused (with the space's votes, core/retrieval/feedback.py),
de-duplicated, optionally reranked."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from core.consistency import ReaderRegistry
from core.models import Chunk, DocumentRecord, Hit, ScoredChunk, SearchFilters
from core.ports import Catalog, Embedder, KeywordIndex, Reranker, VectorIndex
from core.retrieval.feedback import FeedbackPrior
from core.retrieval.fusion import Boost, dedupe, rrf, zscore
from core.settings import RetrievalSettings

__all__ = ["HybridRetriever", "RetrievalResult", "Mode"]

log = logging.getLogger(__name__)

Mode = Literal["hybrid", "dense", "bm25"]


@dataclass(frozen=True)
class RetrievalResult:
    hits: list[Hit]
    seconds: float
    stage_seconds: dict[str, float] = field(default_factory=dict)  # embed, dense, bm25, fuse


class HybridRetriever:
    def __init__(
        self,
        *,
        embedder: Embedder,
        vectors: VectorIndex,
        keywords: KeywordIndex,
        catalog: Catalog,
        readers: ReaderRegistry,
        settings: RetrievalSettings | None = None,
        reranker: Reranker | None = None,
        feedback: FeedbackPrior | None = None,
    ) -> None:
        self.embedder = embedder
        self.vectors = vectors
        self.keywords = keywords
        self.catalog = catalog
        self.readers = readers
        self.settings = settings or RetrievalSettings()
        self.reranker = reranker
        self.feedback = feedback
        self._live: dict[str, tuple[int, dict[str, DocumentRecord]]] = {}

    async def _live_versions(self, space_id: str) -> dict[str, DocumentRecord]:
        generation = await self.catalog.generation(space_id)
        cached = self._live.get(space_id)
        if cached is None or cached[0] != generation:
            cached = (generation, await self.catalog.live_documents(space_id))
            self._live[space_id] = cached
        return cached[1]

    async def search(
        self,
        query: str,
        filters: SearchFilters,
        *,
        top_k: int | None = None,
        mode: Mode = "hybrid",
        vector: np.ndarray | None = None,
    ) -> RetrievalResult:
        """``vector``: the query's embedding when the caller has it already (verified-answer
        matching embeds the question first)."""
        top_k = top_k or self.settings.top_k
        n = max(self.settings.candidates, top_k)
        started = time.perf_counter()
        stages: dict[str, float] = {}

        async def dense() -> list[ScoredChunk]:
            nonlocal vector
            t = time.perf_counter()
            embedded = vector = vector if vector is not None else await self.embedder.embed_query(query)
            stages["embed"] = time.perf_counter() - t
            t = time.perf_counter()
            found = await self.vectors.search(embedded, filters, n)
            stages["dense"] = time.perf_counter() - t
            return found

        async def lexical() -> list[ScoredChunk]:
            t = time.perf_counter()
            found = await self.keywords.search(query, filters, n)
            stages["bm25"] = time.perf_counter() - t
            return found

        async with self.readers.reading():
            # the live map is taken before the indexes are read: see core.consistency
            live = await self._live_versions(filters.space_id)
            jobs = {}
            if mode in ("hybrid", "dense"):
                jobs["dense"] = dense()
            if mode in ("hybrid", "bm25"):
                jobs["bm25"] = lexical()
            results = dict(zip(jobs, await asyncio.gather(*jobs.values()), strict=True))

        t = time.perf_counter()
        ranked = {name: [s for s in found if _is_live(s, live)] for name, found in results.items()}
        weights = {"dense": self.settings.dense_weight, "bm25": self.settings.keyword_weight}
        boost = await self._boost(filters.space_id, query, vector)
        if self.settings.fusion == "rrf":
            fused = rrf(ranked, k=self.settings.rrf_k, weights=weights, boost=boost)
        else:
            fused = zscore(ranked, weights=weights, boost=boost)
        hits = dedupe(fused)
        stages["fuse"] = time.perf_counter() - t
        if self.reranker is not None and self.settings.rerank and hits:
            t = time.perf_counter()
            hits = await self.reranker.rerank(query, hits[:n], top_k)
            stages["rerank"] = time.perf_counter() - t
        return RetrievalResult(hits[:top_k], time.perf_counter() - started, stages)

    async def _boost(self, space_id: str, query: str, vector: np.ndarray | None) -> Boost | None:
        """The space's votes as a fusion boost for this question; None when off or when nobody
        voted there."""
        weight = self.settings.feedback_weight
        if self.feedback is None or weight <= 0 or not await self.feedback.has_votes(space_id):
            return None
        if self.feedback.needs_query_vector and vector is None:  # keyword-only search
            vector = await self.embedder.embed_query(query)
        boosts = await self.feedback.boosts(space_id, vector)
        if not boosts:
            return None
        key = self.feedback.key

        def boost(chunk: Chunk) -> float:
            return weight * boosts.get(key(chunk.chunk_id, chunk.doc_id), 0.0)

        return boost


def _is_live(scored: ScoredChunk, live: dict[str, DocumentRecord]) -> bool:
    record = live.get(scored.chunk.doc_id)
    return record is not None and record.version == scored.chunk.version
