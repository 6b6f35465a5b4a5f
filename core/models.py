"""The values that flow through ragbot: frozen dataclasses, no behaviour beyond derivations."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

__all__ = [
    "PASSAGE_FORMAT",
    "Document",
    "Chunk",
    "ScoredChunk",
    "Hit",
    "SearchFilters",
    "Turn",
    "ConversationMessage",
    "Asker",
    "Question",
    "ChatMessage",
    "ChatDelta",
    "ChatUsage",
    "Source",
    "Timings",
    "Answer",
    "QueuePosition",
    "SourcesFound",
    "TextDelta",
    "AnswerDone",
    "AnswerEvent",
    "Vote",
    "DocOutcome",
    "OutcomeStatus",
    "IngestReport",
    "DocumentRecord",
    "SpaceSummary",
    "Binding",
    "PinnedSource",
    "PinResult",
    "FeedbackStats",
    "RatedAnswer",
    "SpaceStatus",
    "VoteResult",
    "RecordedVote",
    "LoggedAnswer",
    "QuestionLogQuery",
    "QuestionLogPage",
    "UsageDay",
    "UsageReport",
    "VerifiedAnswer",
    "ChunkVote",
    "ForgetReport",
    "SourceState",
    "CHANNEL_MODES",
    "VISIBILITIES",
    "ANSWER_LANGS",
]


@dataclass(frozen=True)
class Document:
    """A loaded, cleaned source document, before chunking."""

    doc_id: str  # stable inside a space: the normalised source (relative path or URL)
    source: str  # where it came from: a path or an http(s) URL
    title: str
    text: str  # cleaned text; Markdown headings ("# ...") mark sections
    content_hash: str  # the document's version: a hash of its text, title, type and the pipeline
    lang: str = "en"
    doc_type: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


# Names what Chunk.passage gives the embedder. It is part of every document version (see
# IngestPipeline.fingerprint), so a new format re-embeds each document at its next ingestion.
PASSAGE_FORMAT = "headings+text"


@dataclass(frozen=True)
class Chunk:
    """A passage of 300-600 tokens cut from one version of one document."""

    space_id: str
    doc_id: str
    version: str  # the document's content hash when this chunk was cut
    position: int  # 0-based order inside the document
    title: str  # document title
    heading_path: tuple[str, ...]
    text: str
    source: str
    doc_type: str = "unknown"
    lang: str = "en"
    n_tokens: int = 0

    @property
    def chunk_id(self) -> str:
        return f"{self.space_id}/{self.doc_id}@{self.version[:16]}#{self.position}"

    @property
    def section(self) -> str:
        """Title and heading path, as shown to people and to the model."""
        return self.section_at(self.heading_path)

    def section_at(self, heading_path: tuple[str, ...]) -> str:
        """Title and the headings of a part inside this chunk: a chunk can span several sections,
        and a citation names the one its part sits under (``core.answer.compress``)."""
        parts = [self.title, *[h for h in heading_path if h != self.title]]
        return " › ".join(p for p in parts if p)

    @property
    def passage(self) -> str:
        """What the dense index embeds: the text under its own headings, without the document
        title. The title is shared by every chunk of a document, and e5's mean pooling let it pull
        them together: a 40-answer FAQ page's answers all looked alike (dense nDCG@10 on deckhouse
        0.67 with the title, 0.73 without; no set got worse, docs/retrieval.md). Titles still
        count in keyword search, boosted. Change PASSAGE_FORMAT with this."""
        headings = " › ".join(h for h in self.heading_path if h != self.title)
        return f"{headings}\n\n{self.text}" if headings else self.text


@dataclass(frozen=True)
class ScoredChunk:
    """One retriever's answer: a chunk and that retriever's own score."""

    chunk: Chunk
    score: float


@dataclass(frozen=True)
class Hit:
    """A fused retrieval result."""

    chunk: Chunk
    score: float
    ranks: Mapping[str, int] = field(default_factory=dict)  # retriever name -> 1-based rank


@dataclass(frozen=True)
class SearchFilters:
    space_id: str
    doc_type: str | None = None


@dataclass(frozen=True)
class Turn:
    """One earlier message of the conversation (a thread or a reply chain)."""

    role: str  # "user" | "assistant"
    text: str


@dataclass(frozen=True)
class ConversationMessage:
    """A message of the conversation a question was asked in, written by someone other than the
    bot (the human messages of a Slack thread before the mention, the message a Telegram question
    replies to, a file attached there as text): context for the model, never a source to cite."""

    author: str  # how the model is shown who wrote it: a display name or a platform user id
    text: str


@dataclass(frozen=True)
class Asker:
    """Who asked, where: recorded with the answer, never used for retrieval."""

    platform: str  # "slack" | "telegram" | "cli"
    user_id: str
    channel_id: str = ""
    team_id: str = ""
    thread_id: str = ""  # the conversation (Slack thread_ts, Telegram root message id)


@dataclass(frozen=True)
class Question:
    text: str
    space_id: str
    doc_type: str | None = None
    history: tuple[Turn, ...] = ()
    asker: Asker | None = None
    top_k: int | None = None  # None: the configured default
    # True: never answer from a verified answer ("this did not help" on one asks again)
    skip_verified: bool = False
    # the human messages before the question in its thread, oldest first (docs/chat.md)
    conversation: tuple[ConversationMessage, ...] = ()
    # the answer's language when the question's own cannot be told ("PVC Pending?"): the channel's
    # setting; None: the conversation's language, else English
    default_lang: str | None = None


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class ChatUsage:
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class ChatDelta:
    """A piece of streamed model output; the last one may carry usage and a finish reason."""

    text: str = ""
    usage: ChatUsage | None = None
    finish_reason: str | None = None


@dataclass(frozen=True)
class Source:
    n: int  # the number the answer cites it by: [n]
    doc_id: str
    title: str
    section: str
    location: str  # path or URL as ingested
    url: str | None  # a link people can open, when there is one
    doc_type: str = "unknown"
    cited: bool = True  # False: listed because the answer cited nothing
    # the chunk it was cut from ("" for sources a person gave): votes on the answer move it in
    # retrieval (core/retrieval/feedback.py)
    chunk_id: str = ""


@dataclass(frozen=True)
class Timings:
    retrieval_s: float = 0.0
    queue_s: float = 0.0
    prefill_s: float = 0.0  # time to first token
    decode_s: float = 0.0
    total_s: float = 0.0
    prompt_tokens: int = 0
    context_tokens: int = 0
    completion_tokens: int = 0

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.decode_s if self.decode_s > 0 else 0.0


@dataclass(frozen=True)
class VerifiedAnswer:
    """An answer a person vouched for: written to correct a thumbs-down, or an endorsed generated
    answer. New questions of its space that mean the same are answered from it at once
    (core/answer/verified.py); docs/feedback.md says how matching, review and fallback work."""

    verified_id: str
    space_id: str
    question: str
    text: str
    sources: tuple[Source, ...]
    author: str  # who verified it: "slack:U123", "telegram:42", "console:<login>", "cli:<user>"
    created_at: datetime
    lang: str  # "en" | "ru": the language the question was written in
    from_answer_id: str | None = None  # the generated answer it corrects or endorses, if any
    needs_review: bool = False  # a source document changed since it was written: not served
    # (doc_id, version) of its source documents when it was written: a new live version flags it
    doc_versions: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Answer:
    answer_id: str
    question: str
    space_id: str
    text: str
    sources: tuple[Source, ...]
    lang: str
    model: str
    timings: Timings
    cache_hit: bool = False
    declined: bool = False  # the documents did not contain the answer
    interrupted: str | None = None  # why the text stops early, already appended to text
    doc_type: str | None = None
    verified: VerifiedAnswer | None = None  # answered from this verified answer, with no model call

    @property
    def cites_any(self) -> bool:
        return any(s.cited for s in self.sources)


# Events of one streamed answer, in order: QueuePosition*, SourcesFound, TextDelta*, AnswerDone.
@dataclass(frozen=True)
class QueuePosition:
    position: int  # 1 = next to be served


@dataclass(frozen=True)
class SourcesFound:
    sources: tuple[Source, ...]


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class AnswerDone:
    answer: Answer


AnswerEvent = QueuePosition | SourcesFound | TextDelta | AnswerDone


@dataclass(frozen=True)
class Vote:
    answer_id: str
    user_id: str
    value: int  # +1 or -1
    reason: str | None = None
    platform: str = ""


class OutcomeStatus(enum.StrEnum):
    ADDED = "added"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REMOVED = "removed"
    FAILED = "failed"
    # not a document, and not a failure of the source: a page robots.txt forbids, a Confluence page
    # these credentials cannot read, a duplicate, a link to an image (docs/sources.md)
    SKIPPED = "skipped"


@dataclass(frozen=True)
class DocOutcome:
    source: str
    status: OutcomeStatus
    doc_id: str = ""
    chunks: int = 0
    reason: str = ""  # why it failed, for people


@dataclass(frozen=True)
class IngestReport:
    space_id: str
    outcomes: tuple[DocOutcome, ...]
    seconds: float = 0.0

    def count(self, status: OutcomeStatus) -> int:
        return sum(1 for o in self.outcomes if o.status is status)

    @property
    def failed(self) -> tuple[DocOutcome, ...]:
        return tuple(o for o in self.outcomes if o.status is OutcomeStatus.FAILED)

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def chunks_written(self) -> int:
        return sum(
            o.chunks for o in self.outcomes if o.status in (OutcomeStatus.ADDED, OutcomeStatus.UPDATED)
        )


@dataclass(frozen=True)
class DocumentRecord:
    """The catalogue's view of one document in a space: which version is live."""

    space_id: str
    doc_id: str
    source: str
    title: str
    version: str
    doc_type: str
    lang: str
    chunks: int
    ingested_at: datetime | None = None


@dataclass(frozen=True)
class SpaceSummary:
    space_id: str
    documents: int
    chunks: int
    last_ingested_at: datetime | None = None


@dataclass(frozen=True)
class Binding:
    """A chat channel (Slack channel, Telegram chat) answering from one space."""

    platform: str
    channel_id: str
    space_id: str
    team_id: str = ""  # Slack workspace; empty for Telegram
    thread_followups: bool = True  # answer follow-ups in the bot's thread without a mention
    # per-channel behaviour (docs/chat.md): "mention" answers when called; "questions" also answers
    # every message that is a question addressed to no one else
    mode: str = "mention"
    visibility: str = "thread"  # "private": only the asker sees the answer (Slack ephemeral, Telegram DM)
    doc_type: str | None = None  # questions without a "type: ..." prefix search this document type
    lang: str | None = None  # the answer's language when the question's own cannot be told


CHANNEL_MODES = ("mention", "questions")
VISIBILITIES = ("thread", "private")
ANSWER_LANGS = ("en", "ru")


@dataclass(frozen=True)
class PinnedSource:
    """A source re-ingested on a schedule: a URL, a file path, or a file kept from a chat."""

    pin_id: int
    space_id: str
    location: str
    every_s: int | None = 6 * 3600  # interval schedule; None when cron is set
    cron: str | None = None
    doc_type: str | None = None
    pinned_by: str = ""
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None
    last_error: str | None = None
    consecutive_failures: int = 0


@dataclass(frozen=True)
class PinResult:
    pin_id: int
    ok: bool
    error: str | None = None


@dataclass(frozen=True)
class VoteResult:
    vote: Vote
    changed: bool  # the user had voted differently before
    previous: int | None = None


@dataclass(frozen=True)
class ChunkVote:
    """One vote as retrieval sees it: on an answer that cited this chunk (core/retrieval/feedback.py)."""

    chunk_id: str
    doc_id: str
    value: int  # +1 / -1
    at: datetime  # when it was cast (or last changed)
    question: str = ""  # what the voted answer answered: a vote counts for questions like it


@dataclass(frozen=True)
class ForgetReport:
    """What ``ragbot forget --user`` deleted."""

    answers: int  # the person's questions with their answers (and everyone's votes on them)
    votes: int  # the person's votes on other people's answers


@dataclass(frozen=True)
class RatedAnswer:
    answer_id: str
    question: str
    up: int
    down: int
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class FeedbackStats:
    space_id: str | None
    answers: int
    up: int
    down: int
    worst: tuple[RatedAnswer, ...] = ()

    @property
    def votes(self) -> int:
        return self.up + self.down

    @property
    def up_rate(self) -> float:
        return self.up / self.votes if self.votes else 0.0


@dataclass(frozen=True)
class SpaceStatus:
    space_id: str
    documents: int
    chunks: int
    last_ingested_at: datetime | None
    pins: tuple[PinnedSource, ...] = ()
    sources: tuple[SourceState, ...] = ()
    keyword_index: str = ""  # the backend serving keyword search (KEYWORD_INDEX)
    keyword_chunks: int | None = None  # chunks it holds for the space (after a switch: reindex --keywords)

    @property
    def failing(self) -> tuple[PinnedSource, ...]:
        return tuple(p for p in self.pins if p.consecutive_failures > 0)


@dataclass(frozen=True)
class SourceState:
    """What the last run of a synced source (a site, a sitemap, a Git repository, a Confluence
    space or page tree) did, and where the next run starts (docs/sources.md).

    ``cursor`` is JSON the source kind owns: the validators, sitemap lastmods, blob ids or page
    versions of what it read, the last ingested commit, and the doc_ids it produced."""

    space_id: str
    location: str  # canonical, as pins and `ragbot status` show it
    kind: str  # "site" | "sitemap" | "git" | "confluence"
    last_run_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    documents: int = 0  # live documents the source produced
    skipped: int = 0  # items of the last run that were not documents (robots.txt, no access, duplicates)
    cursor: Mapping[str, Any] = field(default_factory=dict)

    @property
    def failing(self) -> bool:
        return self.last_error is not None


# -- what the admin console reads (docs/console.md) --------------------------------------------


@dataclass(frozen=True)
class RecordedVote:
    """One person's vote on an answer as the store keeps it (a changed vote replaces the earlier one)."""

    user_id: str
    value: int  # +1 or -1
    reason: str | None
    platform: str
    at: datetime  # when it was cast or last changed


@dataclass(frozen=True)
class LoggedAnswer:
    """An answer from the answer log with who asked, when, and the votes on it."""

    answer: Answer
    asked_at: datetime
    asker: Asker | None = None
    votes: tuple[RecordedVote, ...] = ()

    @property
    def up(self) -> int:
        return sum(1 for v in self.votes if v.value > 0)

    @property
    def down(self) -> int:
        return sum(1 for v in self.votes if v.value < 0)

    @property
    def reasons(self) -> tuple[str, ...]:
        """The reasons given with down votes, oldest first."""
        return tuple(v.reason for v in self.votes if v.value < 0 and v.reason)


@dataclass(frozen=True)
class QuestionLogQuery:
    """Filters of the question log. ``vote``: "up" / "down" = at least one such vote, "none" = no
    vote at all. ``since`` is inclusive, ``until`` exclusive (aware datetimes)."""

    space_id: str | None = None
    vote: str | None = None  # "up" | "down" | "none" | None
    declined: bool | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class QuestionLogPage:
    entries: tuple[LoggedAnswer, ...]  # newest first
    total: int  # entries matching the filters, over all pages


@dataclass(frozen=True)
class UsageDay:
    """The questions asked on one UTC day, and the votes on their answers."""

    day: date
    questions: int = 0
    declined: int = 0
    up: int = 0
    down: int = 0
    ttft_p50_s: float | None = None  # time to first token of generated answers (Timings.prefill_s)
    ttft_p90_s: float | None = None

    @property
    def helpful_rate(self) -> float | None:
        """Share of up votes among the votes; None without votes."""
        return self.up / (self.up + self.down) if self.up + self.down else None

    @property
    def declined_rate(self) -> float | None:
        return self.declined / self.questions if self.questions else None


@dataclass(frozen=True)
class UsageReport:
    space_id: str | None
    days: tuple[UsageDay, ...]  # every day of the window, oldest first, empty days included

    @property
    def questions(self) -> int:
        return sum(d.questions for d in self.days)

    @property
    def declined(self) -> int:
        return sum(d.declined for d in self.days)

    @property
    def up(self) -> int:
        return sum(d.up for d in self.days)

    @property
    def down(self) -> int:
        return sum(d.down for d in self.days)
