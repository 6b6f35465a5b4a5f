"""RagService: the one facade the bot, the CLI and the scheduler call.

It owns no platform knowledge: Slack and Telegram adapters translate their events into these
calls and render what comes back. Construction is cheap; ``start()`` warms every component."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.answer.answerer import Answerer
from core.answer.cache import AnswerCache
from core.answer.gate import GenerationGate
from core.answer.verified import VerifiedMatcher, document_sources, with_review_state
from core.consistency import ReaderRegistry
from core.errors import Busy, CoreError, InvalidInput, NotFound, UnknownSpace
from core.ingest.pipeline import IngestPipeline, Progress
from core.lease import held_lease
from core.models import (
    Answer,
    AnswerDone,
    AnswerEvent,
    Binding,
    DocumentRecord,
    FeedbackStats,
    ForgetReport,
    IngestReport,
    LoggedAnswer,
    PinnedSource,
    Question,
    QuestionLogPage,
    QuestionLogQuery,
    SearchFilters,
    Source,
    SpaceStatus,
    SpaceSummary,
    Turn,
    UsageReport,
    VerifiedAnswer,
    Vote,
    VoteResult,
)
from core.ports import (
    ChatModel,
    DocTypeClassifier,
    Embedder,
    Fetcher,
    KeywordIndex,
    Lifecycle,
    ServiceObserver,
    Store,
    VectorIndex,
)
from core.retrieval.feedback import FeedbackPrior
from core.retrieval.hybrid import HybridRetriever, Mode, RetrievalResult
from core.settings import CoreSettings
from core.text import detect_lang

__all__ = ["RagService", "PinRun", "check_space_id", "MAX_VERIFIED_CHARS", "DID_NOT_HELP"]

log = logging.getLogger(__name__)

MAX_VERIFIED_CHARS = 20_000
DID_NOT_HELP = "did not help (verified answer)"  # the reason recorded with that thumbs-down

_SPACE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_space_id(space_id: str) -> str:
    if not _SPACE_ID.match(space_id or ""):
        raise InvalidInput(
            f"'{space_id}' is not a valid space name: use 1-64 letters, digits, '-', '_' or '.', "
            "starting with a letter or digit."
        )
    return space_id


def _is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def _resolve_path(location: str) -> str | None:
    path = Path(location).expanduser()
    return str(path.resolve()) if path.exists() else None


class _NoObserver:
    def answered(self, answer: object) -> None:
        return None

    def failed(self, code: str) -> None:
        return None

    def ingested(self, report: object) -> None:
        return None

    def voted(self, vote: object, changed: bool) -> None:
        return None


@dataclass(frozen=True)
class PinRun:
    """What one scheduled re-ingestion of a pinned source did."""

    pin: PinnedSource
    report: IngestReport | None
    error: str | None
    alert: bool  # the source has now failed max_failures times in a row: tell the admins


class RagService:
    def __init__(
        self,
        *,
        store: Store,
        embedder: Embedder,
        vectors: VectorIndex,
        keywords: KeywordIndex,
        chat: ChatModel,
        pipeline: IngestPipeline,
        retriever: HybridRetriever,
        answerer: Answerer,
        fetcher: Fetcher | None = None,
        uploads_dir: Path | None = None,
        max_pin_failures: int = 3,
        observer: ServiceObserver | None = None,
        retention_days: int = 0,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.vectors = vectors
        self.keywords = keywords
        self.chat = chat
        self.pipeline = pipeline
        self.retriever = retriever
        self.answerer = answerer
        self.fetcher = fetcher
        self.uploads_dir = uploads_dir
        self.max_pin_failures = max_pin_failures
        self.observer = observer or _NoObserver()
        self.retention_days = retention_days
        self._started: list[Lifecycle] = []

    @classmethod
    def assemble(
        cls,
        *,
        settings: CoreSettings,
        store: Store,
        embedder: Embedder,
        vectors: VectorIndex,
        keywords: KeywordIndex,
        chat: ChatModel,
        classifier: DocTypeClassifier | None = None,
        fetcher: Fetcher | None = None,
        uploads_dir: Path | None = None,
        observer: ServiceObserver | None = None,
    ) -> RagService:
        """Wire the pipeline, retriever and answerer over the given ports; nothing is started.
        ``bot.bootstrap`` passes the real backends, ``core.testing`` the fakes."""
        readers = ReaderRegistry()
        pipeline = IngestPipeline(
            embedder=embedder,
            vectors=vectors,
            keywords=keywords,
            catalog=store,
            readers=readers,
            fetcher=fetcher,
            classifier=classifier,
            settings=settings.ingest,
        )
        retriever = HybridRetriever(
            embedder=embedder,
            vectors=vectors,
            keywords=keywords,
            catalog=store,
            readers=readers,
            settings=settings.retrieval,
            feedback=FeedbackPrior(
                store, half_life_days=settings.retrieval.feedback_half_life_days, embedder=embedder
            ),
        )
        answerer = Answerer(
            retriever=retriever,
            chat=chat,
            catalog=store,
            settings=settings.answer,
            llm=settings.llm,
            cache=AnswerCache(settings.answer.cache_ttl_s, settings.answer.cache_size),
            gate=GenerationGate(settings.llm.concurrency),
            verified=VerifiedMatcher(
                store=store, catalog=store, embedder=embedder, settings=settings.verified
            ),
        )
        return cls(
            store=store,
            embedder=embedder,
            vectors=vectors,
            keywords=keywords,
            chat=chat,
            pipeline=pipeline,
            retriever=retriever,
            answerer=answerer,
            fetcher=fetcher,
            uploads_dir=uploads_dir,
            max_pin_failures=settings.scheduler.max_consecutive_failures,
            observer=observer,
            retention_days=settings.answer.retention_days,
        )

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self, *, chat: bool = True) -> None:
        """Start the store, indexes and embedder; the chat model too unless ``chat=False``
        (ingest-only commands need no LLM)."""
        parts: list[Lifecycle] = [self.store, self.vectors, self.keywords, self.embedder]
        if self.fetcher is not None:
            parts.append(self.fetcher)
        if chat:
            parts.append(self.chat)
        for part in parts:
            await part.start()
            self._started.append(part)

    async def aclose(self) -> None:
        try:
            await self.pipeline.aclose()
        except Exception:  # closing must go on for the rest
            log.exception("service.close_failed part=classifier")
        while self._started:
            part = self._started.pop()
            try:
                await part.aclose()
            except Exception:  # closing must go on for the rest
                log.exception("service.close_failed part=%s", type(part).__name__)

    # -- asking -------------------------------------------------------------------------------

    async def ask(self, question: Question) -> AsyncIterator[AnswerEvent]:
        """Stream an answer; the finished answer is recorded for feedback and history."""
        try:
            async for event in self.answerer.ask(question):
                if isinstance(event, AnswerDone):
                    await self.store.record_answer(event.answer, question.asker)
                    self.observer.answered(event.answer)
                yield event
        except CoreError as e:
            self.observer.failed(e.code)
            raise

    async def thread_turns(self, platform: str, channel_id: str, thread_id: str) -> list[Turn]:
        limit = self.answerer.settings.history_turns // 2 or 1
        return await self.store.thread_turns(platform, channel_id, thread_id, limit)

    async def link_message(self, answer_id: str, message_id: str) -> None:
        await self.store.link_message(answer_id, message_id)

    async def thread_of_message(self, platform: str, channel_id: str, message_id: str) -> str | None:
        return await self.store.thread_of_message(platform, channel_id, message_id)

    async def search(
        self,
        query: str,
        space_id: str,
        *,
        doc_type: str | None = None,
        top_k: int | None = None,
        mode: Mode = "hybrid",
    ) -> RetrievalResult:
        return await self.retriever.search(query, SearchFilters(space_id, doc_type), top_k=top_k, mode=mode)

    @property
    def queue_length(self) -> int:
        return self.answerer.gate.waiting

    # -- ingestion ----------------------------------------------------------------------------

    async def ingest(
        self,
        space_id: str,
        locations: Sequence[str],
        *,
        doc_type: str | None = None,
        prune: bool = False,
        force: bool = False,
        progress: Progress | None = None,
    ) -> IngestReport:
        check_space_id(space_id)
        async with self._space_lease(space_id):
            report = await self.pipeline.ingest(
                space_id, locations, doc_type=doc_type, prune=prune, force=force, progress=progress
            )
        self._changed(space_id)
        self.observer.ingested(report)
        return report

    async def ingest_upload(
        self, space_id: str, name: str, content: bytes, *, doc_type: str | None = None
    ) -> IngestReport:
        """A file sent in chat: kept under the uploads folder (so reindex can read it again),
        then ingested like any file."""
        if self.uploads_dir is None:
            raise InvalidInput("Uploads are not enabled on this server.")
        check_space_id(space_id)
        safe = re.sub(r"[^\w.\-]+", "_", Path(name).name).strip("._") or "upload"
        folder = self.uploads_dir / space_id
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        path = folder / safe
        await asyncio.to_thread(path.write_bytes, content)
        return await self.ingest(space_id, [str(path)], doc_type=doc_type)

    async def reindex(
        self, space_id: str, *, force: bool = False, progress: Progress | None = None
    ) -> IngestReport:
        """Read every source of the space again; unchanged documents cost nothing, unless ``force``
        (indexes lost or restored from an older backup than the database) writes them all again."""
        live = await self.store.live_documents(space_id)
        pins = await self.store.pins(space_id)
        if not live and not pins:
            raise UnknownSpace(f"The space '{space_id}' has no documents or pinned sources.")
        locations = sorted({p.location for p in pins} | {r.source for r in live.values()})
        return await self.ingest(space_id, locations, force=force, progress=progress)

    async def remove_document(self, space_id: str, doc_id: str) -> bool:
        async with self._space_lease(space_id):
            removed = await self.pipeline.remove_document(space_id, doc_id)
        self._changed(space_id)
        return removed

    def _space_lease(self, space_id: str):  # noqa: ANN202 - an async context manager
        """Two re-ingestions of one space never run at once, in this process or another."""
        return held_lease(
            self.store,
            f"ingest:{space_id}",
            busy_message=f"The space '{space_id}' is being re-ingested right now; try again in a few minutes.",
        )

    def _changed(self, space_id: str) -> None:
        if self.answerer.cache is not None:
            self.answerer.cache.invalidate(space_id)

    # -- spaces and status --------------------------------------------------------------------

    async def spaces(self) -> list[SpaceSummary]:
        return await self.store.spaces()

    async def status(self, space_id: str) -> SpaceStatus:
        summary = next((s for s in await self.store.spaces() if s.space_id == space_id), None)
        pins = await self.store.pins(space_id)
        if summary is None and not pins:
            raise UnknownSpace(f"There is no space named '{space_id}' yet.")
        return SpaceStatus(
            space_id=space_id,
            documents=summary.documents if summary else 0,
            chunks=summary.chunks if summary else 0,
            last_ingested_at=summary.last_ingested_at if summary else None,
            pins=tuple(pins),
        )

    # -- bindings, pins, admins, feedback -----------------------------------------------------

    async def bind(self, binding: Binding) -> None:
        check_space_id(binding.space_id)
        await self.store.bind(binding)

    async def unbind(self, platform: str, channel_id: str, team_id: str = "") -> bool:
        return await self.store.unbind(platform, channel_id, team_id)

    async def binding_for(self, platform: str, channel_id: str, team_id: str = "") -> Binding | None:
        return await self.store.binding_for(platform, channel_id, team_id)

    async def pin(
        self,
        space_id: str,
        location: str,
        *,
        every_s: int | None = None,
        cron: str | None = None,
        doc_type: str | None = None,
        pinned_by: str = "",
    ) -> tuple[PinnedSource, IngestReport]:
        """Pin a source and ingest it now; the scheduler keeps it fresh from then on."""
        check_space_id(space_id)
        if not _is_url(location):
            resolved = await asyncio.to_thread(_resolve_path, location)
            if resolved is None:
                raise NotFound(f"Nothing to pin at {location}: no such file or folder.")
            location = resolved
        pin = await self.store.add_pin(
            PinnedSource(
                pin_id=0,
                space_id=space_id,
                location=location,
                every_s=None if cron else (every_s or 6 * 3600),
                cron=cron,
                doc_type=doc_type,
                pinned_by=pinned_by,
            )
        )
        run = await self.refresh_pin(pin)
        return run.pin, run.report or IngestReport(space_id, ())

    async def unpin(self, space_id: str, location: str) -> IngestReport:
        """Unpin a source and remove its documents from the space."""
        pins = await self.store.pins(space_id)
        wanted = {location.rstrip("/")}
        if not _is_url(location):
            wanted.add(str(await asyncio.to_thread(lambda: Path(location).expanduser().resolve())))
        match = next((p for p in pins if p.location.rstrip("/") in wanted), None)
        if match is None:
            raise NotFound(f"{location} is not pinned in '{space_id}'.")
        await self.store.remove_pin(space_id, match.location)
        async with self._space_lease(space_id):
            report = await self.pipeline.ingest_documents(
                space_id, [], prune_roots={match.location}, seen=set()
            )
        self._changed(space_id)
        return report

    async def refresh_pin(self, pin: PinnedSource) -> PinRun:
        """Re-ingest one pinned source (the scheduler's job). A failing source keeps its previous
        chunks serving; the failure is recorded, and after ``max_pin_failures`` in a row the
        admins are alerted."""
        try:
            report = await self.ingest(pin.space_id, [pin.location], doc_type=pin.doc_type, prune=True)
        except Busy:
            raise  # not a failure of the source: the space is being re-ingested by someone else
        except Exception as e:  # any failure of the run is recorded against the pin
            error = getattr(e, "message", None) or f"{type(e).__name__}: {e}"
            log.warning("pin.failed space=%s pin=%d error=%s", pin.space_id, pin.pin_id, error)
            updated = await self.store.record_pin_run(pin.pin_id, ok=False, at=datetime.now(UTC), error=error)
            return PinRun(updated, None, error, updated.consecutive_failures == self.max_pin_failures)
        error = "; ".join(f"{o.source}: {o.reason}" for o in report.failed)[:500] or None
        updated = await self.store.record_pin_run(pin.pin_id, ok=report.ok, at=datetime.now(UTC), error=error)
        alert = not report.ok and updated.consecutive_failures == self.max_pin_failures
        return PinRun(updated, report, error, alert)

    async def pins(self, space_id: str | None = None) -> list[PinnedSource]:
        return await self.store.pins(space_id)

    async def vote(self, vote: Vote) -> VoteResult:
        if vote.value not in (1, -1):
            raise InvalidInput("A vote is +1 or -1.")
        answer = await self.store.get_answer(vote.answer_id)
        if answer is None:
            raise NotFound("That answer is no longer on record, so the vote could not be saved.")
        result = await self.store.record_vote(vote)
        if self.retriever.feedback is not None:
            self.retriever.feedback.invalidate(answer.space_id)
        self.observer.voted(vote, result.changed)
        return result

    async def feedback_stats(self, space_id: str | None = None, worst: int = 5) -> FeedbackStats:
        return await self.store.feedback_stats(space_id, worst)

    async def is_admin(self, platform: str, user_id: str) -> bool:
        return await self.store.is_admin(platform, user_id)

    async def add_admin(self, platform: str, user_id: str) -> None:
        await self.store.add_admin(platform, user_id)

    async def remove_admin(self, platform: str, user_id: str) -> bool:
        return await self.store.remove_admin(platform, user_id)

    # -- what the admin console reads (docs/console.md) -----------------------------------------

    async def documents(self, space_id: str) -> list[DocumentRecord]:
        """The live documents of a space, by title."""
        live = await self.store.live_documents(space_id)
        return sorted(live.values(), key=lambda d: (d.title.casefold(), d.doc_id))

    async def bindings(self, space_id: str | None = None) -> list[Binding]:
        return await self.store.bindings(space_id)

    async def question_log(self, query: QuestionLogQuery) -> QuestionLogPage:
        if query.vote not in (None, "up", "down", "none"):
            raise InvalidInput(f"'{query.vote}' is not a vote filter: use up, down or none.")
        if not 0 <= query.limit <= 500 or query.offset < 0:
            raise InvalidInput("A page of the question log holds 0-500 answers, from offset 0 on.")
        return await self.store.question_log(query)

    async def logged_answer(self, answer_id: str) -> LoggedAnswer | None:
        return await self.store.logged_answer(answer_id)

    async def review_queue(self, space_id: str | None = None, *, limit: int = 50) -> list[LoggedAnswer]:
        """Answers voted down, most recently voted down first, except those already turned into a
        verified answer. An answer given *from* a verified answer and voted down stays: that
        verified answer may need fixing."""
        done = {v.from_answer_id for v in await self.store.verified_answers(space_id) if v.from_answer_id}
        return await self.store.review_queue(space_id, exclude=done, limit=limit)

    async def usage(self, space_id: str | None = None, days: int = 30) -> UsageReport:
        if not 1 <= days <= 366:
            raise InvalidInput("Usage covers 1 to 366 days.")
        return await self.store.usage(space_id, days)

    async def claim_once(self, name: str, ttl_s: float) -> bool:
        """True for the first caller to claim ``name`` within ``ttl_s``, in any process (a row of
        the database's leases): what makes the console's sign-in links work once."""
        return await self.store.acquire(name, uuid.uuid4().hex, ttl_s)

    # -- the feedback loop: verified answers, retention (docs/feedback.md) --------------------

    async def verify_answer(
        self,
        space_id: str,
        question: str,
        text: str,
        *,
        author: str,
        sources: Sequence[Source] = (),
        from_answer_id: str | None = None,
    ) -> VerifiedAnswer:
        """Save a verified answer: a corrected one (``text`` written by a person) or, given the
        text of the original answer, an endorsement. Without ``sources``, those the original
        answer cited are kept. Verifying a question the space already has replaces that answer."""
        check_space_id(space_id)
        question, text, author = question.strip(), text.strip(), author.strip()
        if not question:
            raise InvalidInput("A verified answer needs the question it answers.")
        limit = self.answerer.settings.max_question_chars
        if len(question) > limit:
            raise InvalidInput(f"The question is {len(question):,} characters long; the limit is {limit:,}.")
        if not text:
            raise InvalidInput("A verified answer needs its text: write what the right answer is.")
        if len(text) > MAX_VERIFIED_CHARS:
            raise InvalidInput(
                f"The answer is {len(text):,} characters long; a verified answer can have {MAX_VERIFIED_CHARS:,}."
            )
        if not author:
            raise InvalidInput("A verified answer needs its author.")
        if from_answer_id is not None:
            original = await self.store.get_answer(from_answer_id)
            if original is None:
                raise NotFound(f"There is no answer {from_answer_id!r} on record to verify.")
            if original.space_id != space_id:  # spaces never see each other's answers
                raise InvalidInput(f"The answer {from_answer_id!r} belongs to another space.")
            if not sources:
                sources = [s for s in original.sources if s.cited] or list(original.sources)
        live = await self.store.live_documents(space_id)
        numbered = tuple(replace(s, n=n, cited=True) for n, s in enumerate(sources, start=1))
        versions = tuple(sorted({(s.doc_id, live[s.doc_id].version) for s in numbered if s.doc_id in live}))
        verified = await self.store.save_verified(
            VerifiedAnswer(
                verified_id=uuid.uuid4().hex[:16],
                space_id=space_id,
                question=question,
                text=text,
                sources=numbered,
                author=author,
                created_at=datetime.now(UTC),
                lang=detect_lang(question),
                from_answer_id=from_answer_id,
                doc_versions=versions,
            )
        )
        if self.answerer.verified is not None:
            self.answerer.verified.forget(verified.verified_id)
        log.info(
            "verified.saved space=%s verified=%s author=%s from_answer=%s sources=%d",
            space_id,
            verified.verified_id,
            author,
            from_answer_id or "-",
            len(numbered),
        )
        return verified

    async def document_sources(self, space_id: str, refs: Sequence[str]) -> tuple[Source, ...]:
        """Sources for a verified answer from document ids or locations (paths, URLs) of the
        space's live documents; NotFound names the first that is not there."""
        return document_sources(space_id, await self.store.live_documents(space_id), refs)

    async def verified_answers(self, space_id: str | None = None) -> list[VerifiedAnswer]:
        """Newest first, each with ``needs_review`` set when a source document changed."""
        found = await self.store.verified_answers(space_id)
        out: list[VerifiedAnswer] = []
        for space in sorted({v.space_id for v in found}):
            live = await self.store.live_documents(space)
            out.extend(with_review_state([v for v in found if v.space_id == space], live))
        order = {v.verified_id: i for i, v in enumerate(found)}
        return sorted(out, key=lambda v: order[v.verified_id])

    async def get_verified(self, verified_id: str) -> VerifiedAnswer | None:
        found = await self.store.get_verified(verified_id)
        if found is None:
            return None
        return with_review_state([found], await self.store.live_documents(found.space_id))[0]

    async def remove_verified(self, verified_id: str) -> bool:
        removed = await self.store.remove_verified(verified_id)
        if removed:
            if self.answerer.verified is not None:
                self.answerer.verified.forget(verified_id)
            log.info("verified.removed verified=%s", verified_id)
        return removed

    async def get_answer(self, answer_id: str) -> Answer | None:
        return await self.store.get_answer(answer_id)

    async def answer_of_message(self, platform: str, channel_id: str, message_id: str) -> str | None:
        return await self.store.answer_of_message(platform, channel_id, message_id)

    async def did_not_help(self, answer_id: str, *, user_id: str, platform: str) -> Answer:
        """ "This did not help" under an answer from a verified answer: a thumbs-down with that
        reason. Returns the answer: the adapter asks its question again with
        ``skip_verified=True``, so a generated answer follows."""
        answer = await self.store.get_answer(answer_id)
        if answer is None:
            raise NotFound("That answer is no longer on record.")
        await self.vote(Vote(answer_id, user_id, -1, reason=DID_NOT_HELP, platform=platform))
        return answer

    async def forget_user(self, platform: str, user_id: str) -> ForgetReport:
        """Delete a person's questions with their answers, and their votes (on request)."""
        if not platform or not user_id:
            raise InvalidInput("Say whose questions to delete: a platform and a user id, e.g. slack:U0123.")
        report = await self.store.forget_user(platform, user_id)
        self._feedback_changed()
        log.info(
            "retention.forgot platform=%s user=%s answers=%d votes=%d",
            platform,
            user_id,
            report.answers,
            report.votes,
        )
        return report

    async def purge_expired_answers(self, now: datetime | None = None) -> int:
        """Delete the questions and answers older than ``ANSWER_RETENTION_DAYS`` (0: none)."""
        if self.retention_days <= 0:
            return 0
        before = (now or datetime.now(UTC)) - timedelta(days=self.retention_days)
        purged = await self.store.purge_answers(before)
        if purged:
            self._feedback_changed()
            log.info("retention.purged answers=%d before=%s", purged, before.isoformat())
        return purged

    def _feedback_changed(self) -> None:
        """Votes went away: recompute every space's boosts at the next question."""
        if self.retriever.feedback is not None:
            self.retriever.feedback.invalidate_all()
