"""The small interfaces the core depends on. Each has an in-memory reference in
``core.testing`` and a contract suite in ``tests/contract`` that the real backends pass too.

Every port is async; backends wrapping blocking libraries run them with ``asyncio.to_thread``.
Lifecycles are explicit: constructors are cheap, ``start()`` loads models or opens files and
connections, ``aclose()`` releases them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import numpy as np

from core.models import (
    Answer,
    Asker,
    Binding,
    ChatDelta,
    ChatMessage,
    Chunk,
    ChunkVote,
    DocumentRecord,
    FeedbackStats,
    ForgetReport,
    Hit,
    IngestReport,
    LoggedAnswer,
    PinnedSource,
    QuestionLogPage,
    QuestionLogQuery,
    ScoredChunk,
    SearchFilters,
    SourceState,
    SpaceSummary,
    Turn,
    UsageReport,
    VerifiedAnswer,
    Vote,
    VoteResult,
)

__all__ = [
    "Lifecycle",
    "Embedder",
    "VectorIndex",
    "KeywordIndex",
    "JointSearch",
    "Reranker",
    "ChatModel",
    "Fetched",
    "Fetcher",
    "Catalog",
    "AnswerLog",
    "AskedQuestions",
    "FeedbackStore",
    "AnswerHistory",
    "BindingStore",
    "PinStore",
    "AdminStore",
    "LeaseLock",
    "VerifiedStore",
    "RetentionStore",
    "PromptStore",
    "Store",
    "ServiceObserver",
    "DocTypeDecision",
    "DocTypeClassifier",
    "SourceStateStore",
    "GitEntry",
    "GitClient",
    "ConfluenceClient",
    "TextAnalyzer",
]


@runtime_checkable
class Lifecycle(Protocol):
    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


class Embedder(Lifecycle, Protocol):
    """Text -> L2-normalised float32 vectors. Documents and queries may be encoded
    differently (e5 prefixes ``passage:`` / ``query:``)."""

    name: str
    dim: int

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...  # (n, dim)

    async def embed_query(self, text: str) -> np.ndarray: ...  # (dim,)


class VectorIndex(Lifecycle, Protocol):
    """Dense vectors of chunks, searched by cosine similarity under a mandatory space filter."""

    async def upsert(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None: ...

    async def search(self, vector: np.ndarray, filters: SearchFilters, limit: int) -> list[ScoredChunk]: ...

    async def delete(self, space_id: str, doc_id: str, version: str | None = None) -> None:
        """Delete a document's chunks: one version, or every version when ``version`` is None."""

    async def drop_space(self, space_id: str) -> None: ...

    async def count(self, space_id: str | None = None) -> int: ...

    def chunks(self, space_id: str, batch: int = 256) -> AsyncIterator[list[Chunk]]:
        """Every chunk of the space, in batches of at most ``batch`` (rebuilding a keyword index
        from them: ``ragbot reindex --keywords``)."""
        ...


class KeywordIndex(Lifecycle, Protocol):
    """BM25 over chunk titles, headings and text, under a mandatory space filter."""

    backend: str  # which engine serves it (whoosh, qdrant-edge, qdrant-server), for `ragbot status`

    async def upsert(self, chunks: Sequence[Chunk]) -> None: ...

    async def search(self, text: str, filters: SearchFilters, limit: int) -> list[ScoredChunk]: ...

    async def delete(self, space_id: str, doc_id: str, version: str | None = None) -> None: ...

    async def drop_space(self, space_id: str) -> None: ...

    async def count(self, space_id: str | None = None) -> int: ...


class JointSearch(Protocol):
    """Dense and keyword search of one question in a single request, where one engine holds both
    (a Qdrant server with KEYWORD_INDEX=qdrant): the two ranked lists, as the two indexes' own
    ``search`` would return them. Optional: without it the retriever asks the two indexes."""

    async def search(
        self, vector: np.ndarray, text: str, filters: SearchFilters, limit: int
    ) -> tuple[list[ScoredChunk], list[ScoredChunk]]: ...


class Reranker(Lifecycle, Protocol):
    name: str

    async def rerank(self, query: str, hits: Sequence[Hit], top_k: int) -> list[Hit]: ...


class ChatModel(Lifecycle, Protocol):
    """A chat LLM that streams. Raises ``LLMError`` subclasses; once a delta has been
    yielded it never retries (that would repeat text)."""

    name: str

    def stream(
        self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float
    ) -> AsyncIterator[ChatDelta]: ...


@dataclass(frozen=True)
class DocTypeDecision:
    doc_type: str
    stage: str  # "rules" | "model" | "nli" | "fallback"
    confidence: float


class DocTypeClassifier(Protocol):
    """Assigns a document its doc_type (runbook, faq, ...): rules, then a model, then zero-shot NLI."""

    async def classify(
        self, *, title: str, text: str, source: str, metadata: Mapping[str, str]
    ) -> DocTypeDecision: ...


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    content: bytes
    content_type: str  # media type without parameters, e.g. "text/html"
    status: int = 200  # 304: not modified since the validators sent (content is empty)
    etag: str | None = None  # validators for the next conditional request
    last_modified: str | None = None


class Fetcher(Lifecycle, Protocol):
    """Downloads an http(s) URL within a size limit; raises ``SourceUnreachable`` (its subclasses
    ``SourceDenied`` for 401/403 and ``SourceNotFound`` for 404/410) or ``FileTooLarge``.

    With ``etag`` / ``last_modified`` the request is conditional: an unchanged resource comes
    back as ``status=304`` without a body, so re-reading an unchanged site costs little."""

    async def fetch(
        self, url: str, *, max_bytes: int, etag: str | None = None, last_modified: str | None = None
    ) -> Fetched: ...

    def stream(self, url: str, *, max_bytes: int) -> AsyncIterator[bytes]:
        """The body in pieces as it arrives; the caller may stop early (a sitemap read only up to
        --max-pages URLs), and closing the iterator closes the connection."""


class Catalog(Protocol):
    """Which version of each document is live in a space. Flipping the live version is the
    one atomic step of an update, so readers see the old or the new document, never a mix."""

    async def live_documents(self, space_id: str) -> dict[str, DocumentRecord]: ...

    async def set_live(self, record: DocumentRecord) -> None: ...

    async def remove(self, space_id: str, doc_id: str) -> None: ...

    async def spaces(self) -> list[SpaceSummary]: ...

    async def generation(self, space_id: str) -> int:
        """A counter that grows with every change to the space (cache keys use it)."""


class AnswerLog(Protocol):
    async def record_answer(self, answer: Answer, asker: Asker | None) -> None: ...

    async def get_answer(self, answer_id: str) -> Answer | None: ...

    async def thread_turns(
        self, platform: str, channel_id: str, thread_id: str, limit: int = 6
    ) -> list[Turn]:
        """The last ``limit`` questions and answers of a conversation, oldest first, as turns."""

    async def link_message(self, answer_id: str, message_id: str) -> None:
        """Remember the platform message that shows an answer (replies to it continue the thread)."""

    async def thread_of_message(self, platform: str, channel_id: str, message_id: str) -> str | None:
        """The thread of the answer shown in ``message_id``, if the bot posted it."""

    async def answer_of_message(self, platform: str, channel_id: str, message_id: str) -> str | None:
        """The id of the answer ``message_id`` shows, if the bot posted it (an admin replying
        ``/verify`` to it in Telegram)."""


class AskedQuestions(Protocol):
    async def asked_questions(self, space_id: str, limit: int = 50) -> list[tuple[str, int]]:
        """The questions answered from the space (not declined, not cut off), each exact text with
        how often it was asked, most often first, then most recently asked first."""


class FeedbackStore(Protocol):
    async def record_vote(self, vote: Vote) -> VoteResult:
        """One vote per user per answer; a later vote replaces the earlier one."""

    async def feedback_stats(self, space_id: str | None = None, worst: int = 5) -> FeedbackStats: ...

    async def chunk_votes(self, space_id: str) -> list[ChunkVote]:
        """Every vote on a generated answer of the space, once per chunk the answer cited (every
        chunk it was given when it cited none). Answers from verified answers are left out."""


class AnswerHistory(Protocol):
    """What the admin console reads of the answer log and the votes (docs/console.md)."""

    async def question_log(self, query: QuestionLogQuery) -> QuestionLogPage: ...

    async def logged_answer(self, answer_id: str) -> LoggedAnswer | None: ...

    async def review_queue(
        self, space_id: str | None = None, *, exclude: Collection[str] = (), limit: int = 50
    ) -> list[LoggedAnswer]:
        """Answers with at least one down vote, most recently voted down first; ``exclude``: answer
        ids already dealt with (turned into verified answers)."""

    async def usage(self, space_id: str | None = None, days: int = 30) -> UsageReport:
        """Questions per day over the last ``days`` UTC days (today included), by the store's clock."""


class BindingStore(Protocol):
    async def bind(self, binding: Binding) -> None: ...

    async def unbind(self, platform: str, channel_id: str, team_id: str = "") -> bool: ...

    async def binding_for(self, platform: str, channel_id: str, team_id: str = "") -> Binding | None: ...

    async def bindings(self, space_id: str | None = None) -> list[Binding]: ...


class PinStore(Protocol):
    async def add_pin(self, pin: PinnedSource) -> PinnedSource: ...

    async def remove_pin(self, space_id: str, location: str) -> bool: ...

    async def pins(self, space_id: str | None = None) -> list[PinnedSource]: ...

    async def record_pin_run(
        self, pin_id: int, *, ok: bool, at: datetime, error: str | None = None
    ) -> PinnedSource: ...


class AdminStore(Protocol):
    async def add_admin(self, platform: str, user_id: str) -> None: ...

    async def remove_admin(self, platform: str, user_id: str) -> bool: ...

    async def is_admin(self, platform: str, user_id: str) -> bool: ...


class PromptStore(Protocol):
    """The prompts an admin chose to suggest for a space (Slack's assistant threads)."""

    async def set_suggested_prompts(self, space_id: str, prompts: Sequence[str]) -> None:
        """Replace the space's prompts, in order; an empty list removes them."""

    async def suggested_prompts(self, space_id: str) -> list[str]: ...


class LeaseLock(Protocol):
    """A named lock with an expiry, held in the database so that several processes agree."""

    async def acquire(self, name: str, owner: str, ttl_s: float) -> bool: ...

    async def release(self, name: str, owner: str) -> None: ...


class VerifiedStore(Protocol):
    """Verified answers, one per question (``core.text.normalise_question``) per space."""

    async def save_verified(self, verified: VerifiedAnswer) -> VerifiedAnswer:
        """Insert it, or replace the space's verified answer to the same question (which keeps
        its id); returns what is stored."""

    async def get_verified(self, verified_id: str) -> VerifiedAnswer | None: ...

    async def verified_answers(self, space_id: str | None = None) -> list[VerifiedAnswer]:
        """Newest first."""

    async def remove_verified(self, verified_id: str) -> bool: ...


class RetentionStore(Protocol):
    """Deleting what people asked: on request, and after the retention period (docs/feedback.md)."""

    async def forget_user(self, platform: str, user_id: str) -> ForgetReport:
        """Delete the person's questions with their answers (and every vote on them), and the
        person's votes on other answers."""

    async def purge_answers(self, before: datetime) -> int:
        """Delete answers recorded before ``before``, with their votes; returns how many."""


class SourceStateStore(Protocol):
    """The state of synced sources (sites, sitemaps, Git repositories, Confluence): the last run
    and the cursor the next run starts from, one row per (space, location)."""

    async def source_state(self, space_id: str, location: str) -> SourceState | None: ...

    async def save_source_state(self, state: SourceState) -> None:
        """Insert or replace the state of ``(state.space_id, state.location)``."""

    async def source_states(self, space_id: str | None = None) -> list[SourceState]:
        """Ordered by space, then location."""

    async def remove_source_state(self, space_id: str, location: str) -> bool: ...


class Store(
    Catalog,
    AnswerLog,
    AskedQuestions,
    FeedbackStore,
    BindingStore,
    PinStore,
    AdminStore,
    LeaseLock,
    AnswerHistory,
    VerifiedStore,
    RetentionStore,
    SourceStateStore,
    PromptStore,
    Lifecycle,
    Protocol,
):
    """Everything the service keeps in its database (one SQL backend implements it all)."""


class ServiceObserver(Protocol):
    """Told what the service did, for metrics. Must be cheap and must not raise."""

    def answered(self, answer: Answer) -> None: ...

    def failed(self, code: str) -> None: ...

    def ingested(self, report: IngestReport) -> None: ...

    def voted(self, vote: Vote, changed: bool) -> None: ...


@dataclass(frozen=True)
class GitEntry:
    path: str  # inside the repository, "/"-separated
    blob: str  # the blob id: the same id means the same bytes
    size: int


class GitClient(Protocol):
    """A Git remote, read through a local cache. Raises ``SourceUnreachable`` /
    ``SourceDenied`` / ``SourceNotFound`` with a message for people."""

    async def fetch(self, remote: str, ref: str | None) -> str:
        """Bring the cache up to date with ``ref`` (a branch or tag; None: the remote's default
        branch) and return its commit id."""

    async def list_files(self, remote: str, commit: str, under: str | None) -> list[GitEntry]:
        """Regular files of ``commit``, optionally only those under the folder ``under``."""

    async def read_blobs(self, remote: str, blobs: Sequence[str]) -> dict[str, bytes]: ...


class ConfluenceClient(Lifecycle, Protocol):
    """GET on a Confluence REST API with the configured credentials. Waits out 429s (Retry-After)
    a few times; raises ``SourceDenied`` (401/403), ``SourceNotFound`` (404) or
    ``SourceUnreachable`` with a message that never contains a credential."""

    async def get(self, url: str, params: Mapping[str, str] | None = None) -> dict[str, Any]: ...


class TextAnalyzer(Protocol):
    """Texts -> the terms keyword search matches on (words folded, stopwords dropped, stemmed):
    the answerer scores the sentences of its context against the question with it
    (``core.answer.compress``), the way BM25 scored the chunks."""

    async def analyze(self, texts: Sequence[str]) -> list[list[str]]: ...
