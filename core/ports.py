"""The small interfaces the core depends on. Each has an in-memory reference in
``core.testing`` and a contract suite in ``tests/contract`` that the real backends pass too.

Every port is async; backends wrapping blocking libraries run them with ``asyncio.to_thread``.
Lifecycles are explicit: constructors are cheap, ``start()`` loads models or opens files and
connections, ``aclose()`` releases them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

import numpy as np

from core.models import (
    Answer,
    Asker,
    Binding,
    ChatDelta,
    ChatMessage,
    Chunk,
    DocumentRecord,
    FeedbackStats,
    Hit,
    IngestReport,
    PinnedSource,
    ScoredChunk,
    SearchFilters,
    SpaceSummary,
    Turn,
    Vote,
    VoteResult,
)

__all__ = [
    "Lifecycle",
    "Embedder",
    "VectorIndex",
    "KeywordIndex",
    "Reranker",
    "ChatModel",
    "Fetched",
    "Fetcher",
    "Catalog",
    "AnswerLog",
    "AskedQuestions",
    "FeedbackStore",
    "BindingStore",
    "PinStore",
    "AdminStore",
    "LeaseLock",
    "PromptStore",
    "Store",
    "ServiceObserver",
    "DocTypeDecision",
    "DocTypeClassifier",
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


class KeywordIndex(Lifecycle, Protocol):
    """BM25 over chunk titles, headings and text, under a mandatory space filter."""

    async def upsert(self, chunks: Sequence[Chunk]) -> None: ...

    async def search(self, text: str, filters: SearchFilters, limit: int) -> list[ScoredChunk]: ...

    async def delete(self, space_id: str, doc_id: str, version: str | None = None) -> None: ...

    async def drop_space(self, space_id: str) -> None: ...

    async def count(self, space_id: str | None = None) -> int: ...


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


class Fetcher(Lifecycle, Protocol):
    """Downloads an http(s) URL within a size limit; raises ``SourceUnreachable`` / ``FileTooLarge``."""

    async def fetch(self, url: str, *, max_bytes: int) -> Fetched: ...


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


class AskedQuestions(Protocol):
    async def asked_questions(self, space_id: str, limit: int = 50) -> list[tuple[str, int]]:
        """The questions answered from the space (not declined, not cut off), each exact text with
        how often it was asked, most often first, then most recently asked first."""


class FeedbackStore(Protocol):
    async def record_vote(self, vote: Vote) -> VoteResult:
        """One vote per user per answer; a later vote replaces the earlier one."""

    async def feedback_stats(self, space_id: str | None = None, worst: int = 5) -> FeedbackStats: ...


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


class Store(
    Catalog,
    AnswerLog,
    AskedQuestions,
    FeedbackStore,
    BindingStore,
    PinStore,
    AdminStore,
    LeaseLock,
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
