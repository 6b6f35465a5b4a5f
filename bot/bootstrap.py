"""The only place that turns settings into concrete backends.

Each builder imports its backend module where it is chosen: every backend pulls a heavy engine
(torch, qdrant, xllamacpp), and a command that needs one of them should not pay for the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from bot.settings import Settings
from core.classify.labelled import load_labelled
from core.classify.model_files import model_path
from core.classify.stages import StagedClassifier, TypeModel, ZeroShotNLI
from core.classify.taxonomy import Taxonomy, load_taxonomy
from core.errors import ConfigError
from core.ports import (
    ChatModel,
    DocTypeDecision,
    Embedder,
    JointSearch,
    KeywordIndex,
    Reranker,
    ServiceObserver,
    Store,
    VectorIndex,
)
from core.service import RagService

if TYPE_CHECKING:
    from core.backends.doctype_model import TrainingReport
    from core.backends.qdrant_collection import QdrantConnection

__all__ = [
    "build_service",
    "build_embedder",
    "build_vector_index",
    "build_keyword_index",
    "build_joint_search",
    "build_chat_model",
    "build_reranker",
    "build_fast_chat_model",
    "build_store",
    "build_classifier",
    "train_classifier",
    "eval_settings",
    "upgrade_database",
    "database_revision",
]

log = logging.getLogger(__name__)

_DIMS = {"e5-small": 384, "minilm": 384}


def build_embedder(settings: Settings) -> Embedder:
    emb = settings.embedding
    if emb.model == "e5-small":
        from core.backends.e5_embedder import E5Embedder

        return E5Embedder(
            batch_size=emb.batch_size, threads=emb.threads, cache_dir=settings.data_dir / "models"
        )
    from core.backends.minilm_embedder import MiniLMEmbedder

    return MiniLMEmbedder(batch_size=emb.batch_size, threads=emb.threads)


def build_vector_index(settings: Settings, dim: int) -> VectorIndex:
    q = settings.qdrant
    hnsw = {
        "collection": q.collection,
        "hnsw_m": q.hnsw_m,
        "hnsw_ef_construct": q.hnsw_ef_construct,
        "hnsw_ef": q.hnsw_ef,
    }
    if q.url:
        from core.backends.qdrant_server_index import QdrantServerIndex

        return QdrantServerIndex(q.url, dim, hnsw_ef=q.hnsw_ef, connection=_qdrant_connection(settings, dim))
    from core.backends.qdrant_edge_index import QdrantEdgeIndex

    return QdrantEdgeIndex(settings.data_dir / "qdrant", dim, **hnsw)


def _qdrant_connection(settings: Settings, dim: int) -> QdrantConnection:
    """The client and collection layout the server's vector and keyword indexes share."""
    from core.backends.qdrant_collection import CollectionSpec, QdrantConnection

    q = settings.qdrant
    spec = CollectionSpec(
        dim=dim,
        hnsw_m=q.hnsw_m,
        hnsw_ef_construct=q.hnsw_ef_construct,
        keywords=settings.keyword_backend == "qdrant",
        shards=q.shards,
        replication_factor=q.replication_factor,
        write_consistency=q.write_consistency,
        on_disk=q.on_disk,
    )
    api_key = q.api_key.get_secret_value() if q.api_key else None
    return QdrantConnection(q.url, spec, api_key=api_key, collection=q.collection, timeout=q.timeout)


def build_keyword_index(settings: Settings, vectors: VectorIndex | None = None) -> KeywordIndex:
    """KEYWORD_INDEX (``settings.keyword_backend``): Whoosh files, or sparse vectors in Qdrant: in
    the server collection the vector index uses (``vectors``, which it shares points with), else
    in an embedded shard of their own."""
    if settings.keyword_backend == "whoosh":
        from core.backends.whoosh_index import WhooshKeywordIndex

        return WhooshKeywordIndex(settings.data_dir / "whoosh")
    if settings.qdrant.url:
        from core.backends.qdrant_keywords_server import QdrantServerKeywordIndex
        from core.backends.qdrant_server_index import QdrantServerIndex

        if not isinstance(vectors, QdrantServerIndex):
            vectors = build_vector_index(settings, _DIMS[settings.embedding.model])
        return QdrantServerKeywordIndex(vectors.connection)
    from core.backends.qdrant_keywords_edge import QdrantEdgeKeywordIndex

    return QdrantEdgeKeywordIndex(settings.data_dir / "qdrant", collection=settings.qdrant.collection)


def build_joint_search(vectors: VectorIndex, keywords: KeywordIndex) -> JointSearch | None:
    """One request per question when both indexes are the same server collection's halves."""
    from core.backends.qdrant_keywords_server import QdrantJointSearch, QdrantServerKeywordIndex
    from core.backends.qdrant_server_index import QdrantServerIndex

    if isinstance(vectors, QdrantServerIndex) and isinstance(keywords, QdrantServerKeywordIndex):
        return QdrantJointSearch(vectors, keywords)
    return None


def build_reranker(settings: Settings) -> Reranker | None:
    """The cross-encoder of RETRIEVAL_RERANK, or None. Asked for without a model to run, the
    service refuses to start rather than rank without it (a setting must never do nothing)."""
    r = settings.retrieval
    if not r.rerank:
        return None
    if r.rerank_model is None:
        raise ConfigError(
            "RETRIEVAL_RERANK=true, but no re-ranking model is installed: set RETRIEVAL_RERANK_MODEL to a "
            "local cross-encoder directory (docs/retrieval.md), or set RETRIEVAL_RERANK=false."
        )
    from core.backends.cross_encoder import CrossEncoderReranker

    return CrossEncoderReranker(
        r.rerank_model, candidates=r.rerank_candidates, threads=settings.embedding.threads
    )


def build_fast_chat_model(
    settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
) -> ChatModel | None:
    """LLM_FAST_MODEL: the same backend with the faster model, or None when it is not set."""
    if not settings.llm.fast_model:
        return None
    fast = settings.model_copy(
        update={"llm": settings.llm.model_copy(update={"model": settings.llm.fast_model})}
    )
    return build_chat_model(fast, transport=transport)


def build_chat_model(settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> ChatModel:
    """``transport``: an httpx transport under the model's HTTP client (benchmarks time the wire)."""
    from core.backends.llm_http import RetryPolicy

    llm = settings.llm
    retry = RetryPolicy(retries=llm.retries)
    if llm.mode == "embedded":
        from core.backends.llm_embedded import EmbeddedChatModel

        return EmbeddedChatModel(
            models_dir=settings.data_dir / "models",
            model=llm.model,
            num_ctx=llm.num_ctx,
            threads=llm.threads,
            parallel=llm.concurrency,
            timeout=llm.timeout,
            retry=retry,
            transport=transport,
        )
    if not llm.base_url:
        raise ConfigError(f"LLM_MODE={llm.mode} needs LLM_BASE_URL (the address of the {llm.mode} server).")
    api_key = llm.api_key.get_secret_value() if llm.api_key else None
    common = {
        "base_url": llm.base_url,
        "model": llm.model,
        "timeout": llm.timeout,
        "retry": retry,
        "api_key": api_key,
        "transport": transport,
    }
    if llm.mode == "ollama":
        from core.backends.llm_ollama import OllamaChatModel

        return OllamaChatModel(num_ctx=llm.num_ctx, keep_alive=llm.keep_alive, **common)
    if llm.mode == "tgi":
        from core.backends.llm_tgi import TgiChatModel

        return TgiChatModel(template=llm.tgi_template, **common)
    from core.backends.llm_openai import OpenAIChatModel

    return OpenAIChatModel(flavour="vllm" if llm.mode == "vllm" else "openai", **common)


async def upgrade_database(settings: Settings, revision: str = "head") -> str | None:
    """Apply migrations; returns the revision the database is at afterwards."""
    from core.backends import sql_migrations

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await sql_migrations.upgrade(settings.sqlalchemy_url, revision)
    return await sql_migrations.current(settings.sqlalchemy_url)


async def database_revision(settings: Settings) -> str | None:
    from core.backends import sql_migrations

    return await sql_migrations.current(settings.sqlalchemy_url)


def build_store(settings: Settings) -> Store:
    from core.backends.sql_store import SqlStore

    return SqlStore(settings.sqlalchemy_url, auto_migrate=settings.database_auto_migrate)


def build_classifier(settings: Settings, taxonomy: Taxonomy | None = None) -> StagedClassifier:
    """The classifier the ingestion pipeline asks when a document comes without a type:
    rules, then MiniLM + logistic regression, then zero-shot NLI when a model is configured."""
    cfg = settings.classify
    taxonomy = taxonomy or load_taxonomy(cfg.taxonomy_file)
    model: TypeModel | None = None
    nli: ZeroShotNLI | None = None
    if cfg.use_model:
        from core.backends.doctype_model import DocTypeModel
        from core.backends.minilm_embedder import MiniLMEmbedder

        model = DocTypeModel(
            model_path(settings), MiniLMEmbedder(batch_size=8, threads=settings.embedding.threads)
        )
    if cfg.nli_model:
        from core.backends.nli_transformers import TransformersNLI

        nli = TransformersNLI(cfg.nli_model, threads=cfg.nli_threads)
    return StagedClassifier(
        taxonomy,
        model=model,
        nli=nli,
        min_confidence=cfg.min_confidence,
        nli_min_confidence=cfg.nli_min_confidence,
    )


async def train_classifier(settings: Settings, labels: Path, out: Path) -> TrainingReport:
    """Fit the stage-2 doc_type model on the train split of ``labels`` and write it to ``out``."""
    from core.backends.doctype_model import save_params, train_doctype_model
    from core.backends.minilm_embedder import MiniLMEmbedder

    taxonomy = load_taxonomy(settings.classify.taxonomy_file)
    docs = await asyncio.to_thread(load_labelled, labels, split="train")
    embedder = MiniLMEmbedder(batch_size=16, threads=settings.embedding.threads)
    await embedder.start()
    try:
        report = await train_doctype_model(docs, taxonomy, embedder)
    finally:
        await embedder.aclose()
    await asyncio.to_thread(save_params, report.params, out)
    return report


class ClassifierOnFirstUse:
    """The ingestion pipeline's classifier, built when the first document needs one (the
    pipeline starts it then). Building it imports MiniLM's engines (torch, sentence-transformers,
    scikit-learn: seconds), which commands that classify nothing (status, ask, bind) never pay."""

    def __init__(self, build: Callable[[], StagedClassifier]) -> None:
        self._build = build
        self._built: StagedClassifier | None = None

    async def start(self) -> None:
        if self._built is None:
            self._built = await asyncio.to_thread(self._build)
        await self._built.start()

    async def aclose(self) -> None:
        if self._built is not None:
            await self._built.aclose()

    async def classify(
        self, *, title: str, text: str, source: str, metadata: Mapping[str, str]
    ) -> DocTypeDecision:
        if self._built is None:
            raise RuntimeError("the classifier is used before start()")  # the pipeline starts it first
        return await self._built.classify(title=title, text=text, source=source, metadata=metadata)


def build_service(
    settings: Settings, *, chat: ChatModel | None = None, observer: ServiceObserver | None = None
) -> RagService:
    """Wire a RagService; nothing is started (``await service.start()``). ``observer`` receives
    every answer, failure, ingestion and vote (``bot.metrics.PrometheusObserver`` in ``serve``)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    embedder = build_embedder(settings)
    vectors = build_vector_index(settings, _DIMS[settings.embedding.model])
    keywords = build_keyword_index(settings, vectors)
    store = build_store(settings)
    chat = chat or build_chat_model(settings)
    # one taxonomy for the classifier, the question prefixes and the chat's help
    taxonomy = load_taxonomy(settings.classify.taxonomy_file)

    from core.backends.confluence_http import ConfluenceHttp
    from core.backends.git_cli import GitCli
    from core.backends.http_fetcher import HttpFetcher
    from core.backends.text_analysis import TermAnalyzer

    return RagService.assemble(
        settings=settings,
        store=store,
        embedder=embedder,
        vectors=vectors,
        keywords=keywords,
        chat=chat,
        classifier=ClassifierOnFirstUse(lambda: build_classifier(settings, taxonomy)),
        reranker=build_reranker(settings),
        doc_types=taxonomy.doc_types,
        fetcher=HttpFetcher(settings.ingest),
        uploads_dir=settings.data_dir / "uploads",
        observer=observer,
        git=GitCli(settings.data_dir / "sources" / "git", timeout_s=settings.git.timeout_s),
        confluence=ConfluenceHttp(
            settings.confluence, timeout=settings.ingest.fetch_timeout, user_agent=settings.ingest.user_agent
        ),
        joint=build_joint_search(vectors, keywords) if settings.qdrant.url else None,
        analyzer=TermAnalyzer(),
        fast_chat=build_fast_chat_model(settings),
    )


def eval_settings(settings: Settings) -> Settings:
    """Evaluation indexes live apart from the team's spaces, under DATA_DIR/eval."""
    data_dir = Path(settings.data_dir) / "eval"
    return settings.model_copy(update={"data_dir": data_dir, "database_url": None})
