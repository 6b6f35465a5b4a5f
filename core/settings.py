"""Configuration, from the environment and ``.env``. Nothing is instantiated at import time:
``bot.bootstrap`` builds one ``bot.settings.Settings()`` (these sections plus the chat
platforms and the HTTP server) and passes the parts on.

Variable names follow the spec where it gives them (``LLM_MODE``, ``LLM_BASE_URL``,
``LLM_TIMEOUT``); each section reads its own prefix, so ``LLMSettings.timeout`` is ``LLM_TIMEOUT``.
Every variable, with its default, is listed in ``docs/configuration.md`` and ``.env.example``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "CoreSettings",
    "EmbeddingSettings",
    "QdrantSettings",
    "IngestSettings",
    "RetrievalSettings",
    "LLMSettings",
    "AnswerSettings",
    "SchedulerSettings",
    "ClassifySettings",
]


def _section(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, env_file=".env", extra="ignore")


class EmbeddingSettings(BaseSettings):
    model_config = _section("EMBEDDING_")

    # e5-small: multilingual-e5-small (RU + EN); minilm: all-MiniLM-L6-v2 (English only)
    model: Literal["e5-small", "minilm"] = "e5-small"
    batch_size: int = Field(16, ge=1, le=512)
    threads: int = Field(0, ge=0)  # 0: all cores


class QdrantSettings(BaseSettings):
    model_config = _section("QDRANT_")

    url: str | None = None  # empty: the embedded engine (qdrant-edge) under DATA_DIR
    api_key: SecretStr | None = None
    collection: str = "ragbot_chunks"
    hnsw_m: int = Field(16, ge=4, le=128)
    hnsw_ef_construct: int = Field(100, ge=8)
    hnsw_ef: int = Field(128, ge=8)  # search-time beam width
    timeout: float = 10.0


class IngestSettings(BaseSettings):
    model_config = _section("INGEST_")

    max_file_mb: float = Field(20.0, gt=0)
    chunk_target_tokens: int = Field(420, ge=100)
    chunk_max_tokens: int = Field(600, ge=200)
    chunk_min_tokens: int = Field(300, ge=0)
    chunk_overlap_tokens: int = Field(40, ge=0)
    fetch_timeout: float = 30.0
    user_agent: str = "ragbot/0.1 (+self-hosted team assistant)"


class RetrievalSettings(BaseSettings):
    model_config = _section("RETRIEVAL_")

    top_k: int = Field(5, ge=1, le=50)
    candidates: int = Field(60, ge=5, le=1000)  # per retriever, before fusion
    # zscore: standardised scores, weighted (the default, docs/retrieval.md); rrf: ranks only
    fusion: Literal["zscore", "rrf"] = "zscore"
    rrf_k: int = Field(60, ge=1)
    dense_weight: float = Field(1.0, ge=0)
    keyword_weight: float = Field(1.0, ge=0)
    # re-rank the fused candidates with a cross-encoder read from RETRIEVAL_RERANK_MODEL (slower;
    # without a model the service refuses to start: docs/retrieval.md)
    rerank: bool = False
    rerank_model: Path | None = None  # a local cross-encoder directory (config.json, weights, tokenizer)
    rerank_candidates: int = Field(30, ge=2, le=200)  # fused hits the cross-encoder reads again


class LLMSettings(BaseSettings):
    model_config = _section("LLM_")

    mode: Literal["embedded", "ollama", "vllm", "openai", "tgi"] = "embedded"
    base_url: str | None = None
    model: str | None = None  # None: the backend's default
    api_key: SecretStr | None = None
    timeout: float = Field(240.0, gt=0)
    max_tokens: int = Field(512, ge=1)  # the spec's num_predict
    concurrency: int = Field(1, ge=1)
    temperature: float = Field(0.1, ge=0)
    num_ctx: int = Field(8192, ge=512)
    keep_alive: str = "30m"
    retries: int = Field(3, ge=0)
    threads: int = Field(0, ge=0)  # embedded: llama.cpp threads, 0 = all cores
    tgi_template: Literal["chatml", "llama3", "mistral"] = "chatml"  # tgi: how messages become a prompt

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, v: str | None) -> str | None:
        return v.rstrip("/") if v else v


class AnswerSettings(BaseSettings):
    model_config = _section("ANSWER_")

    max_question_chars: int = Field(4000, ge=10)
    context_chunks_min: int = Field(3, ge=1)
    context_chunks_max: int = Field(6, ge=1)
    context_tokens: int = Field(2400, ge=300)  # budget for the chunks in the prompt
    cache_ttl_s: float = Field(3600.0, ge=0)
    cache_size: int = Field(1000, ge=0)
    history_turns: int = Field(6, ge=0)
    # the human messages of the thread a question is asked in, newest first, given to the model as
    # conversation (not sources) within this many tokens; 0: none (docs/chat.md)
    thread_context_tokens: int = Field(1000, ge=0)


class SchedulerSettings(BaseSettings):
    model_config = _section("SCHEDULER_")

    enabled: bool = True
    default_every_s: int = Field(6 * 3600, ge=60)
    max_consecutive_failures: int = Field(3, ge=1)  # then an admin alert
    retry_base_s: float = Field(60.0, gt=0)


class ClassifySettings(BaseSettings):
    """doc_type classification: rules -> MiniLM + logistic regression -> zero-shot NLI (docs/classification.md)."""

    model_config = _section("CLASSIFY_")

    use_model: bool = True  # false: no MiniLM + logistic regression stage (rules, then NLI if set)
    taxonomy_file: Path | None = None  # YAML; empty: the built-in taxonomy
    # empty: DATA_DIR/classify/doctype_model.npz when `ragbot classify train` wrote one, else the shipped model
    model_file: Path | None = None
    min_confidence: float | None = Field(None, ge=0, le=1)  # empty: the threshold stored with the model
    nli_model: str | None = None  # a local Hugging Face NLI model directory; empty: no NLI stage
    nli_min_confidence: float = Field(0.5, ge=0, le=1)
    nli_threads: int = Field(0, ge=0)  # 0: all cores


class CoreSettings(BaseSettings):
    """The settings of the RAG library; ``bot.settings.Settings`` adds the chat platforms and the
    HTTP server around it."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    data_dir: Path = Path("data")
    database_url: str | None = None  # None: sqlite under DATA_DIR
    # apply pending migrations at start; compose runs `ragbot db upgrade` first, so it is a no-op there
    database_auto_migrate: bool = True
    log_level: str = "INFO"
    log_format: Literal["kv", "json"] = "kv"

    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    qdrant: QdrantSettings = Field(default_factory=QdrantSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    classify: ClassifySettings = Field(default_factory=ClassifySettings)

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'ragbot.db').resolve()}"
