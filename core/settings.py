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

from pydantic import Field, SecretStr, field_validator, model_validator
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
    "VerifiedSettings",
    "CrawlSettings",
    "GitSettings",
    "ConfluenceSettings",
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
    # shards a new collection is split into, spread over a Qdrant cluster's nodes (QDRANT_URL only;
    # like the next three, an existing collection keeps its own: docs/deployment.md, Many hosts)
    shards: int = Field(1, ge=1)
    # copies of each shard of a new collection on different nodes (one can fail, nothing is lost)
    replication_factor: int = Field(1, ge=1)
    # replicas that must apply a write before it succeeds (at most QDRANT_REPLICATION_FACTOR)
    write_consistency: int = Field(1, ge=1)
    # a new collection keeps vectors, payload and keyword index on disk (memory-mapped), not in RAM
    on_disk: bool = False

    @model_validator(mode="after")
    def _consistency_within_replicas(self) -> QdrantSettings:
        if self.write_consistency > self.replication_factor:
            raise ValueError(
                f"QDRANT_WRITE_CONSISTENCY={self.write_consistency} asks more replicas to confirm a write "
                f"than QDRANT_REPLICATION_FACTOR={self.replication_factor} makes"
            )
        return self


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
    # votes on answers move the chunks they cited, within the space, by up to this much in fusion
    # (z-score units; docs/feedback.md has the measurement); 0 turns it off
    feedback_weight: float = Field(1.0, ge=0, le=5)
    # a vote counts half as much after this many days
    feedback_half_life_days: float = Field(30.0, gt=0)


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
    # a second, faster model of the same backend answers questions in LLM_FAST_LANGS, when the operator
    # prefers speed (embedded: qwen2.5-coder-0.5b, the llm-small extra; figures in docs/BENCHMARKS.md);
    # empty: LLM_MODEL answers everything
    fast_model: str | None = None
    # the languages of the questions LLM_FAST_MODEL answers (the 0.5B model's Russian is poor)
    fast_langs: list[Literal["en", "ru"]] = Field(default_factory=lambda: ["en"])

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, v: str | None) -> str | None:
        return v.rstrip("/") if v else v


# The context budgets by backend (ANSWER_PROMPT_TOKENS). On two CPU cores the embedded 1.5B model
# prefills ~87 tokens/s, so 700 tokens of context keep the first token under ~10 s on a quiet machine;
# a GPU server prefills thousands of tokens a second and gets the spec's whole 3-6 chunks.
EMBEDDED_PROMPT_TOKENS = 700
SERVER_PROMPT_TOKENS = 2400


class AnswerSettings(BaseSettings):
    model_config = _section("ANSWER_")

    max_question_chars: int = Field(4000, ge=10)
    context_chunks_min: int = Field(3, ge=1)
    context_chunks_max: int = Field(6, ge=1)
    context_tokens: int = Field(2400, ge=300)  # budget for the chunks in the prompt
    cache_ttl_s: float = Field(3600.0, ge=0)
    cache_size: int = Field(1000, ge=0)
    history_turns: int = Field(6, ge=0)
    # questions, answers and their votes are deleted this many days after they were asked (by the
    # scheduler, hourly); 0 keeps them forever
    retention_days: int = Field(0, ge=0)

    # tokens of context the prompt carries after query-focused compression keeps the parts of the
    # chosen chunks that bear on the question (docs/answering.md); empty: sized by LLM_MODE, 700 for
    # the embedded CPU model (its prefill is the wait for the first token), 2400 for a server;
    # 0: whole chunks, no compression
    prompt_tokens: int | None = Field(None, ge=0)

    def prompt_budget(self, llm_mode: str) -> int:
        """ANSWER_PROMPT_TOKENS, or its default for the backend (see the field's comment)."""
        if self.prompt_tokens is not None:
            return self.prompt_tokens
        return EMBEDDED_PROMPT_TOKENS if llm_mode == "embedded" else SERVER_PROMPT_TOKENS

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


class VerifiedSettings(BaseSettings):
    """Answering from verified answers (docs/feedback.md): a new question whose embedding is at
    least this similar (cosine) to a verified question of its space is answered from it."""

    model_config = _section("VERIFIED_")

    enabled: bool = True  # false: never answer from verified answers (they can still be written)
    threshold: float = Field(0.95, ge=0, le=1)  # question and verified question in one language
    cross_lang_threshold: float = Field(0.88, ge=0, le=1)  # one in English, the other in Russian


class CrawlSettings(BaseSettings):
    """Reading whole sites, sitemaps and Confluence spaces politely (docs/sources.md)."""

    model_config = _section("CRAWL_")

    # pages read per site, sitemap or Confluence space at most, unless `--max-pages` (or `max-pages`
    # in chat) says otherwise; the rest is left unread and nothing is pruned
    max_pages: int = Field(5000, ge=1)
    concurrency: int = Field(4, ge=1, le=32)  # requests in flight to one site or wiki at once
    # seconds between the starts of two requests to one site or wiki; a robots.txt Crawl-delay
    # that asks for more wins
    delay_s: float = Field(0.0, ge=0)


class GitSettings(BaseSettings):
    model_config = _section("GIT_")

    # one `git fetch` of a repository may take this long (a first clone of a large one takes a while)
    timeout_s: float = Field(300.0, gt=0)


class ConfluenceSettings(BaseSettings):
    """Credentials for `confluence+https://...` sources; never written into URLs or logs."""

    model_config = _section("CONFLUENCE_")

    user: str | None = None  # Confluence Cloud: the Atlassian account e-mail, with CONFLUENCE_API_TOKEN
    api_token: SecretStr | None = None  # Confluence Cloud: an API token (id.atlassian.com, Security)
    # Confluence Data Center / Server: a personal access token (sent as a bearer token); wins
    # over CONFLUENCE_USER + CONFLUENCE_API_TOKEN when both are set
    token: SecretStr | None = None


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
    # whoosh: BM25F files under DATA_DIR/whoosh; qdrant: sparse vectors in Qdrant (beside the
    # vectors with QDRANT_URL, so a replica keeps no index files); empty: qdrant when QDRANT_URL is
    # set, else whoosh (docs/retrieval.md). After a change: `ragbot reindex --keywords`
    keyword_index: Literal["whoosh", "qdrant"] | None = None

    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    qdrant: QdrantSettings = Field(default_factory=QdrantSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    classify: ClassifySettings = Field(default_factory=ClassifySettings)
    verified: VerifiedSettings = Field(default_factory=VerifiedSettings)
    crawl: CrawlSettings = Field(default_factory=CrawlSettings)
    git: GitSettings = Field(default_factory=GitSettings)
    confluence: ConfluenceSettings = Field(default_factory=ConfluenceSettings)

    @property
    def keyword_backend(self) -> Literal["whoosh", "qdrant"]:
        """KEYWORD_INDEX, or its default: Qdrant when there is a server (QDRANT_URL), so a server
        deployment keeps no local index files; Whoosh with the embedded engine."""
        if self.keyword_index is not None:
            return self.keyword_index
        return "qdrant" if self.qdrant.url else "whoosh"

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'ragbot.db').resolve()}"
