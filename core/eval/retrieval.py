"""Retrieval evaluation: index an eval corpus into its own space (reused while the corpus is
unchanged: ingestion is idempotent) and score each query's document ranking."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from core.eval.dataset import EvalSet
from core.eval.metrics import doc_ranking, mrr_at, ndcg_at, recall_at
from core.ingest.chunking import chunk_document
from core.models import Chunk, DocumentRecord, IngestReport
from core.retrieval.hybrid import Mode
from core.service import RagService

__all__ = ["RetrievalScores", "eval_space_id", "index_eval_set", "index_eval_keywords", "evaluate_retrieval"]

# documents are ranked from this many chunks: enough for 10 distinct documents in practice
_CHUNK_DEPTH = 60
_KEYWORD_BATCH = 512  # chunks per keyword-index write in index_eval_keywords


@dataclass(frozen=True)
class RetrievalScores:
    mode: str
    n_queries: int
    recall_at_5: float
    mrr_at_10: float
    ndcg_at_10: float
    by_lang: dict[str, dict[str, float]]

    def to_json(self) -> dict:
        return {
            "mode": self.mode,
            "n_queries": self.n_queries,
            "recall@5": round(self.recall_at_5, 4),
            "mrr@10": round(self.mrr_at_10, 4),
            "ndcg@10": round(self.ndcg_at_10, 4),
            "by_lang": self.by_lang,
        }


def eval_space_id(eval_set: EvalSet) -> str:
    return "eval-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", eval_set.name)[:58]


async def index_eval_set(
    service: RagService, eval_set: EvalSet, progress: Callable[[str, int, int], None] | None = None
) -> IngestReport:
    pipeline = service.pipeline
    docs = [
        await pipeline.make_document(
            doc_id=d.doc_id, source=f"{eval_set.name}:{d.doc_id}", title=d.title, text=d.text, lang=d.lang
        )
        for d in eval_set.corpus
        if d.text.strip()
    ]
    space = eval_space_id(eval_set)
    report = await pipeline.ingest_documents(
        space, docs, prune_roots={f"{eval_set.name}:"}, seen={d.doc_id for d in docs}, progress=progress
    )
    # Score the index as it serves: wait for the HNSW build that the writes (or opening a partly
    # indexed index) started. Until it ends, new points are searched exactly, and the same run
    # would score differently depending on how far the build had got.
    settle = getattr(service.vectors, "settle", None)
    if settle is not None:
        await settle()
    # The same data directory evaluated with another KEYWORD_INDEX: that index has not seen the
    # corpus (ingestion found nothing changed), so it is built from the stored chunks, as
    # `ragbot reindex --keywords` does for a deployment.
    status = await service.status(space)
    if status.keyword_chunks is not None and status.keyword_chunks < status.chunks:
        await service.reindex_keywords(space)
    return report


async def index_eval_keywords(
    service: RagService, eval_set: EvalSet, progress: Callable[[str, int, int], None] | None = None
) -> int:
    """The corpus into the keyword index alone, for ``--mode bm25``: each document chunked exactly as
    ingestion chunks it and made live in the catalogue, with no embedding and no doc_type
    classification (an unfiltered keyword search reads neither). So keyword backends can be compared
    on a corpus that would take hours to embed. Unchanged documents are skipped; returns the chunks
    written. The BM25 scores equal a full ingestion's (docs/retrieval.md checks it on deckhouse)."""
    pipeline = service.pipeline
    space = eval_space_id(eval_set)
    live = await service.store.live_documents(space)
    corpus = [d for d in eval_set.corpus if d.text.strip()]
    written = 0
    chunks: list[Chunk] = []
    records: list[DocumentRecord] = []

    async def flush() -> None:
        # Batched as the pipeline batches its writes: a commit per document is slow on Whoosh.
        await service.keywords.upsert(chunks)
        for record in records:
            await service.store.set_live(record)
        chunks.clear()
        records.clear()

    for i, d in enumerate(corpus):
        doc = await pipeline.make_document(
            doc_id=d.doc_id, source=f"{eval_set.name}:{d.doc_id}", title=d.title, text=d.text, lang=d.lang
        )
        previous = live.get(doc.doc_id)
        if previous is None or previous.version != doc.content_hash:
            doc_chunks = chunk_document(doc, space, pipeline.chunking)
            chunks.extend(doc_chunks)
            records.append(
                DocumentRecord(
                    space_id=space,
                    doc_id=doc.doc_id,
                    source=doc.source,
                    title=doc.title,
                    version=doc.content_hash,
                    doc_type=doc.doc_type or "unknown",
                    lang=doc.lang,
                    chunks=len(doc_chunks),
                    ingested_at=None,
                )
            )
            written += len(doc_chunks)
            if len(chunks) >= _KEYWORD_BATCH:
                await flush()
        if progress:
            progress("keywords", i + 1, len(corpus))
    await flush()
    return written


async def evaluate_retrieval(
    service: RagService,
    eval_set: EvalSet,
    mode: Mode = "hybrid",
    progress: Callable[[int, int], None] | None = None,
) -> RetrievalScores:
    space = eval_space_id(eval_set)
    per_query: list[tuple[str, float, float, float]] = []
    for i, q in enumerate(eval_set.queries):
        result = await service.search(q.text, space, top_k=_CHUNK_DEPTH, mode=mode)
        ranking = doc_ranking([h.chunk.doc_id for h in result.hits])
        rel = eval_set.qrels.get(q.query_id, {})
        per_query.append(
            (q.lang, recall_at(ranking, rel, 5), mrr_at(ranking, rel, 10), ndcg_at(ranking, rel, 10))
        )
        if progress:
            progress(i + 1, len(eval_set.queries))

    def mean(rows: list[tuple[str, float, float, float]], col: int) -> float:
        return sum(r[col] for r in rows) / len(rows) if rows else 0.0

    groups: dict[str, list] = defaultdict(list)
    for row in per_query:
        groups[row[0]].append(row)
    by_lang = {
        lang: {
            "n_queries": len(rows),
            "recall@5": round(mean(rows, 1), 4),
            "mrr@10": round(mean(rows, 2), 4),
            "ndcg@10": round(mean(rows, 3), 4),
        }
        for lang, rows in sorted(groups.items())
    }
    return RetrievalScores(
        mode, len(per_query), mean(per_query, 1), mean(per_query, 2), mean(per_query, 3), by_lang
    )
