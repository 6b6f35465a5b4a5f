"""RagService: the one facade the bot, the CLI and the scheduler call.

It owns no platform knowledge: Slack and Telegram adapters translate their events into these
calls and render what comes back. Construction is cheap; ``start()`` warms every component."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from core.answer.answerer import Answerer
from core.answer.cache import AnswerCache
from core.answer.gate import GenerationGate
from core.consistency import ReaderRegistry
from core.errors import Busy, CoreError, InvalidInput, NotFound, UnknownSpace
from core.ingest.pipeline import IngestPipeline, Progress
from core.lease import held_lease
from core.models import (
    AnswerDone,
    AnswerEvent,
    Binding,
    FeedbackStats,
    IngestReport,
    PinnedSource,
    Question,
    SearchFilters,
    SpaceStatus,
    SpaceSummary,
    Turn,
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
    TextAnalyzer,
    VectorIndex,
)
from core.retrieval.hybrid import HybridRetriever, Mode, RetrievalResult
from core.settings import CoreSettings

__all__ = ["RagService", "PinRun", "check_space_id"]

log = logging.getLogger(__name__)

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
        analyzer: TextAnalyzer | None = None,
        fast_chat: ChatModel | None = None,
    ) -> RagService:
        """Wire the pipeline, retriever and answerer over the given ports; nothing is started.
        ``bot.bootstrap`` passes the real backends, ``core.testing`` the fakes. ``analyzer``: the
        keyword analysis the answerer's context compression scores with; ``fast_chat``: the model
        of LLM_FAST_MODEL."""
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
        )
        answerer = Answerer(
            retriever=retriever,
            chat=chat,
            catalog=store,
            settings=settings.answer,
            llm=settings.llm,
            cache=AnswerCache(settings.answer.cache_ttl_s, settings.answer.cache_size),
            gate=GenerationGate(settings.llm.concurrency),
            analyzer=analyzer,
            fast_chat=fast_chat,
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
            if self.answerer.fast_chat is not None:
                parts.append(self.answerer.fast_chat)
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
        if await self.store.get_answer(vote.answer_id) is None:
            raise NotFound("That answer is no longer on record, so the vote could not be saved.")
        result = await self.store.record_vote(vote)
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
