"""A RagService over the deterministic fakes: for unit tests of the core and of the adapters."""

from __future__ import annotations

from pathlib import Path

from core.answer.answerer import Answerer
from core.answer.cache import AnswerCache
from core.answer.gate import GenerationGate
from core.consistency import ReaderRegistry
from core.ingest.pipeline import IngestPipeline
from core.ports import ChatModel, DocTypeClassifier, Embedder, KeywordIndex, Store, VectorIndex
from core.retrieval.hybrid import HybridRetriever
from core.service import RagService
from core.settings import AnswerSettings, IngestSettings, LLMSettings, RetrievalSettings
from core.testing.hash_embedder import HashEmbedder
from core.testing.memory_indexes import MemoryKeywordIndex, MemoryVectorIndex
from core.testing.memory_store import MemoryStore
from core.testing.scripted_chat import ScriptedChatModel

__all__ = ["make_service"]


def make_service(
    *,
    chat: ChatModel | None = None,
    store: Store | None = None,
    embedder: Embedder | None = None,
    vectors: VectorIndex | None = None,
    keywords: KeywordIndex | None = None,
    uploads_dir: Path | None = None,
    concurrency: int = 1,
    cache_ttl_s: float = 3600.0,
    ingest: IngestSettings | None = None,
    retrieval: RetrievalSettings | None = None,
    answer: AnswerSettings | None = None,
    classifier: DocTypeClassifier | None = None,
) -> RagService:
    chat = chat or ScriptedChatModel()
    store = store or MemoryStore()
    embedder = embedder or HashEmbedder()
    vectors = vectors or MemoryVectorIndex()
    keywords = keywords or MemoryKeywordIndex()
    readers = ReaderRegistry()
    llm = LLMSettings(concurrency=concurrency)
    pipeline = IngestPipeline(
        embedder=embedder,
        vectors=vectors,
        keywords=keywords,
        catalog=store,
        readers=readers,
        classifier=classifier,
        settings=ingest,
    )
    retriever = HybridRetriever(
        embedder=embedder,
        vectors=vectors,
        keywords=keywords,
        catalog=store,
        readers=readers,
        settings=retrieval,
    )
    answerer = Answerer(
        retriever=retriever,
        chat=chat,
        catalog=store,
        settings=answer,
        llm=llm,
        cache=AnswerCache(cache_ttl_s, 100),
        gate=GenerationGate(concurrency),
    )
    return RagService(
        store=store,
        embedder=embedder,
        vectors=vectors,
        keywords=keywords,
        chat=chat,
        pipeline=pipeline,
        retriever=retriever,
        answerer=answerer,
        uploads_dir=uploads_dir,
    )
