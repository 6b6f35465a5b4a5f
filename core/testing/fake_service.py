"""A RagService over the deterministic fakes: for unit tests of the core and of the adapters; and
``final_answer``, the finished answer of a question asked of any RagService."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from core.backends.text_analysis import TermAnalyzer
from core.doctypes import DEFAULT_DOC_TYPES, DocType
from core.models import AnswerDone, Question
from core.ports import (
    ChatModel,
    ConfluenceClient,
    DocTypeClassifier,
    Embedder,
    Fetcher,
    GitClient,
    KeywordIndex,
    Reranker,
    Store,
    VectorIndex,
)
from core.service import RagService
from core.settings import (
    AnswerSettings,
    CoreSettings,
    CrawlSettings,
    IngestSettings,
    LLMSettings,
    RetrievalSettings,
    VerifiedSettings,
)
from core.testing.hash_embedder import HashEmbedder
from core.testing.memory_indexes import MemoryKeywordIndex, MemoryVectorIndex
from core.testing.memory_store import MemoryStore
from core.testing.scripted_chat import ScriptedChatModel

__all__ = ["make_service", "final_answer"]


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
    reranker: Reranker | None = None,
    doc_types: Sequence[DocType] = DEFAULT_DOC_TYPES,
    fetcher: Fetcher | None = None,
    git: GitClient | None = None,
    confluence: ConfluenceClient | None = None,
    crawl: CrawlSettings | None = None,
    verified: VerifiedSettings | None = None,
    llm: LLMSettings | None = None,
    fast_chat: ChatModel | None = None,
) -> RagService:
    """``fetcher``, ``git``, ``confluence``: the real clients (against local servers and
    repositories) for tests of sites, sitemaps, Git and Confluence sources."""
    settings = CoreSettings(
        crawl=crawl or CrawlSettings(),
        ingest=ingest or IngestSettings(),
        retrieval=retrieval or RetrievalSettings(),
        answer=(answer or AnswerSettings()).model_copy(
            update={"cache_ttl_s": cache_ttl_s, "cache_size": 100}
        ),
        llm=(llm or LLMSettings()).model_copy(update={"concurrency": concurrency}),
        verified=verified or VerifiedSettings(),
    )
    return RagService.assemble(
        settings=settings,
        store=store or MemoryStore(),
        embedder=embedder or HashEmbedder(),
        vectors=vectors or MemoryVectorIndex(),
        keywords=keywords or MemoryKeywordIndex(),
        chat=chat or ScriptedChatModel(),
        classifier=classifier,
        reranker=reranker,
        doc_types=doc_types,
        uploads_dir=uploads_dir,
        fetcher=fetcher,
        git=git,
        confluence=confluence,
        analyzer=TermAnalyzer(),
        fast_chat=fast_chat,
    )


async def final_answer(service: RagService, text: str, space: str = "ops") -> AnswerDone:
    """Ask, read the whole stream, and return its AnswerDone (which must come)."""
    done = None
    async for event in service.ask(Question(text=text, space_id=space)):
        if isinstance(event, AnswerDone):
            done = event
    assert done is not None
    return done
