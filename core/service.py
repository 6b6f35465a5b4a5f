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
from core.doctypes import DEFAULT_DOC_TYPES, DocType, split_doc_type_prefix
from core.errors import (
    BackendError,
    Busy,
    CoreError,
    FileTooLarge,
    InvalidInput,
    NotFound,
    ServiceUnavailable,
    UnknownSpace,
)
from core.ingest.extract import extract
from core.ingest.locations import Kind
from core.ingest.locations import parse as parse_location
from core.ingest.pipeline import IngestPipeline, Progress
from core.ingest.sync import SourceSync, build_readers
from core.lease import held_lease
from core.models import (
    ANSWER_LANGS,
    CHANNEL_MODES,
    VISIBILITIES,
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
    SourceState,
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
    ConfluenceClient,
    DocTypeClassifier,
    Embedder,
    Fetcher,
    GitClient,
    JointSearch,
    KeywordIndex,
    Lifecycle,
    Reranker,
    ServiceObserver,
    Store,
    TextAnalyzer,
    VectorIndex,
)
from core.retrieval.feedback import FeedbackPrior
from core.retrieval.hybrid import HybridRetriever, Mode, RetrievalResult
from core.settings import CoreSettings
from core.text import describe_size, detect_lang, normalise_question

__all__ = ["RagService", "PinRun", "check_space_id", "MAX_VERIFIED_CHARS", "DID_NOT_HELP"]

log = logging.getLogger(__name__)

MAX_VERIFIED_CHARS = 20_000
DID_NOT_HELP = "did not help (verified answer)"  # the reason recorded with that thumbs-down
# files shared in a conversation that are text whatever their name says (RagService.read_attachment)
_TEXT_LIKE = frozenset(
    ".log .out .err .json .yaml .yml .toml .ini .conf .cfg .csv .tsv .xml .py .sh .sql .go .js .ts .java .diff .patch".split()
)
_TEXT_LIKE_MEDIA = frozenset(
    "application/json application/x-yaml application/yaml application/xml application/x-sh".split()
)

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
        default_pin_every_s: int = 6 * 3600,
        doc_types: Sequence[DocType] = DEFAULT_DOC_TYPES,
        observer: ServiceObserver | None = None,
        retention_days: int = 0,
        sources: SourceSync | None = None,
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
        self.default_pin_every_s = default_pin_every_s
        # the taxonomy in use (CLASSIFY_TAXONOMY_FILE or the built-in one): the "runbook: ..."
        # prefix of a question, the chat's help and the classifier all read these
        self.doc_types = tuple(doc_types)
        self.observer = observer or _NoObserver()
        self.retention_days = retention_days
        # sites, sitemaps, Git and Confluence (core/ingest/sync.py); files and URLs go straight to the pipeline
        self.sources = sources or SourceSync(pipeline=pipeline, states=store, readers={})
        self._started: list[Lifecycle] = []
        self._warm: asyncio.Future[None] | None = None  # set by open(), done once warm_up() ends

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
        reranker: Reranker | None = None,
        doc_types: Sequence[DocType] = DEFAULT_DOC_TYPES,
        fetcher: Fetcher | None = None,
        uploads_dir: Path | None = None,
        observer: ServiceObserver | None = None,
        git: GitClient | None = None,
        confluence: ConfluenceClient | None = None,
        joint: JointSearch | None = None,
        analyzer: TextAnalyzer | None = None,
        fast_chat: ChatModel | None = None,
    ) -> RagService:
        """Wire the pipeline, retriever and answerer over the given ports; nothing is started.
        ``bot.bootstrap`` passes the real backends, ``core.testing`` the fakes; ``joint`` searches
        both indexes in one request where one engine holds both (``core.ports.JointSearch``).
        ``analyzer``: the keyword analysis the answerer's context compression scores with;
        ``fast_chat``: the model of LLM_FAST_MODEL."""
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
            reranker=reranker,
            joint=joint,
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
            analyzer=analyzer,
            fast_chat=fast_chat,
            verified=VerifiedMatcher(
                store=store, catalog=store, embedder=embedder, settings=settings.verified
            ),
        )
        sources = SourceSync(
            pipeline=pipeline,
            states=store,
            readers=build_readers(fetcher=fetcher, git=git, confluence=confluence, crawl=settings.crawl),
            clients=[confluence] if confluence is not None else [],
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
            default_pin_every_s=settings.scheduler.default_every_s,
            doc_types=doc_types,
            observer=observer,
            retention_days=settings.answer.retention_days,
            sources=sources,
        )

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self, *, chat: bool = True) -> None:
        """Open the store, then warm everything else (``open`` + ``warm_up``); the chat model too
        unless ``chat=False`` (ingest-only commands need no LLM)."""
        await self.open()
        await self.warm_up(chat=chat)

    async def open(self) -> None:
        """Open the store alone (seconds at most): bindings, votes, admins and event claims work
        from here on, while the models load."""
        await self._start(self.store)
        self._warm = asyncio.get_running_loop().create_future()

    async def warm_up(self, *, chat: bool = True) -> None:
        """Open the indexes and load the models (10-60 s for the embedded language model).
        Questions and ingestions that arrive meanwhile wait for it (``_until_warm``), so
        ``ragbot serve`` can take events from the moment the store is open."""
        parts: list[Lifecycle] = [self.vectors, self.keywords, self.embedder]
        if self.retriever.reranker is not None:
            parts.append(self.retriever.reranker)
        if self.fetcher is not None:
            parts.append(self.fetcher)
        parts += self.sources.clients
        if chat:
            parts.append(self.chat)
            if self.answerer.fast_chat is not None:
                parts.append(self.answerer.fast_chat)
        warm = self._warm
        try:
            for part in parts:
                await self._start(part)
        except BaseException:  # re-raised: the waiters are told, the caller sees the cause
            if warm is not None and not warm.done():
                warm.set_exception(
                    ServiceUnavailable("The assistant could not start; an admin must look at its log.")
                )
                warm.exception()  # retrieved: nobody may be waiting
            raise
        if warm is not None and not warm.done():
            warm.set_result(None)

    async def _start(self, part: Lifecycle) -> None:
        await part.start()
        self._started.append(part)

    async def _until_warm(self) -> None:
        """Wait while ``warm_up`` runs; at once when it is done (or was never asked for: a
        service built by tests and used without ``start``)."""
        if self._warm is not None and not self._warm.done():
            await asyncio.shield(self._warm)

    async def aclose(self) -> None:
        if self._warm is not None and not self._warm.done():  # closed while starting
            self._warm.set_exception(
                ServiceUnavailable("The assistant is shutting down; ask again in a minute.")
            )
            self._warm.exception()
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
        """Stream an answer; the finished answer is recorded for feedback and history. A question
        that starts with a document type ("runbook: how do I ...") is answered from that type."""
        await self._until_warm()
        if question.doc_type is None:
            doc_type, text = split_doc_type_prefix(question.text, self.doc_types)
            if doc_type is not None:
                question = replace(question, text=text, doc_type=doc_type)
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
        await self._until_warm()
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
        await self._until_warm()
        async with self._space_lease(space_id):
            report = await self.sources.ingest(
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
        path = await self.save_upload(space_id, name, content)
        return await self.ingest(space_id, [path], doc_type=doc_type)

    async def save_upload(self, space_id: str, name: str, content: bytes) -> str:
        """Keep a file sent in chat under the space's uploads folder (to ingest or pin it); its
        path. The name is reduced to safe characters, so it cannot leave the folder."""
        if self.uploads_dir is None:
            raise InvalidInput("Uploads are not enabled on this server, so only URLs can be pinned.")
        check_space_id(space_id)
        safe = re.sub(r"[^\w.\-]+", "_", Path(name).name).strip("._") or "upload"
        folder = self.uploads_dir / space_id
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        path = folder / safe
        await asyncio.to_thread(path.write_bytes, content)
        return str(path)

    async def reindex(
        self, space_id: str, *, force: bool = False, progress: Progress | None = None
    ) -> IngestReport:
        """Read every source of the space again; unchanged documents cost nothing, unless ``force``
        (indexes lost or restored from an older backup than the database) writes them all again."""
        live = await self.store.live_documents(space_id)
        pins = await self.store.pins(space_id)
        states = await self.store.source_states(space_id)
        if not live and not pins and not states:
            raise UnknownSpace(f"The space '{space_id}' has no documents or pinned sources.")
        # a synced source is read as a whole; its documents' own sources (a page URL, a file on
        # a forge) are not locations to read one by one
        owned = {d for st in states for d in st.cursor.get("docs", ())}
        files = {r.source for r in live.values() if r.doc_id not in owned}
        locations = sorted({p.location for p in pins} | {st.location for st in states} | files)
        return await self.ingest(space_id, locations, force=force, progress=progress)

    async def remove_document(self, space_id: str, doc_id: str) -> bool:
        await self._until_warm()
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
        states = await self.store.source_states(space_id)
        if summary is None and not pins and not states:
            raise UnknownSpace(f"There is no space named '{space_id}' yet.")
        return SpaceStatus(
            space_id=space_id,
            documents=summary.documents if summary else 0,
            chunks=summary.chunks if summary else 0,
            last_ingested_at=summary.last_ingested_at if summary else None,
            pins=tuple(pins),
            sources=tuple(states),
            keyword_index=self.keywords.backend,
            keyword_chunks=await self._keyword_chunks(space_id),
        )

    async def _keyword_chunks(self, space_id: str) -> int | None:
        """The chunks the keyword index holds for a space, or None when it cannot be opened here:
        `ragbot status` opens only the database (it runs beside `ragbot serve`), and the embedded
        engine's files are then held by the server."""
        if self.keywords not in self._started:
            try:
                await self._start(self.keywords)
            except BackendError as e:
                log.info("status.keywords_not_counted space=%s reason=%s", space_id, e.message)
                return None
        return await self.keywords.count(space_id)

    async def reindex_keywords(
        self, space_id: str | None = None, *, progress: Progress | None = None
    ) -> dict[str, int]:
        """Build the keyword index of a space (every space when None) from the chunks the vector
        index already stores, without re-embedding anything: after switching KEYWORD_INDEX, or
        when it was lost. Only live document versions are written; chunks are upserted by id, so
        the index keeps serving meanwhile. Returns the chunks written per space."""
        spaces = [space_id] if space_id is not None else [s.space_id for s in await self.store.spaces()]
        written: dict[str, int] = {}
        for space in spaces:
            async with self._space_lease(space):
                live = await self.store.live_documents(space)
                if not live:
                    raise UnknownSpace(f"The space '{space}' has no documents.")
                total = sum(r.chunks for r in live.values())
                n = 0
                async for batch in self.vectors.chunks(space):
                    keep = [
                        c for c in batch if (r := live.get(c.doc_id)) is not None and r.version == c.version
                    ]
                    await self.keywords.upsert(keep)
                    n += len(keep)
                    if progress:
                        progress(f"keywords {space}", n, total)
            self._changed(space)
            written[space] = n
            log.info("keywords.reindexed space=%s chunks=%d backend=%s", space, n, self.keywords.backend)
        return written

    # -- bindings, pins, admins, feedback -----------------------------------------------------

    async def bind(self, binding: Binding) -> None:
        check_space_id(binding.space_id)
        self._check_channel_settings(binding)
        await self.store.bind(binding)

    async def unbind(self, platform: str, channel_id: str, team_id: str = "") -> bool:
        """Stop answering in a channel. With a workspace, its own binding goes, else the one made
        without a workspace that served it; without one, the channel's bindings in every workspace."""
        if team_id:
            return await self.store.unbind(platform, channel_id, team_id) or await self.store.unbind(
                platform, channel_id, ""
            )
        removed = False
        for binding in await self.store.bindings():
            if binding.platform == platform and binding.channel_id == channel_id:
                removed = await self.store.unbind(platform, channel_id, binding.team_id) or removed
        return removed

    async def binding_for(self, platform: str, channel_id: str, team_id: str = "") -> Binding | None:
        """The space a channel answers from. A binding made without a workspace (``ragbot bind``
        without ``--team``, the README's way for an app in one workspace) serves the channel in
        whichever workspace it is; one made for the event's own workspace wins over it."""
        found = await self.store.binding_for(platform, channel_id, team_id)
        if found is None and team_id:
            found = await self.store.binding_for(platform, channel_id, "")
        return found

    async def bindings(self, space_id: str | None = None) -> list[Binding]:
        return await self.store.bindings(space_id)

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
        """Pin a source and ingest it now; the scheduler keeps it fresh from then on, every
        ``every_s`` seconds, on ``cron``, or, given neither, every SCHEDULER_DEFAULT_EVERY_S."""
        check_space_id(space_id)
        spec = parse_location(location)
        if spec.synced:
            location = spec.location  # one spelling per source: the key of its pin and its state
        elif spec.kind is Kind.PATH:
            resolved = await asyncio.to_thread(_resolve_path, location)
            if resolved is None:
                raise NotFound(f"Nothing to pin at {location}: no such file or folder.")
            location = resolved
        pin = await self.store.add_pin(
            PinnedSource(
                pin_id=0,
                space_id=space_id,
                location=location,
                every_s=None if cron else (every_s or self.default_pin_every_s),
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
        spec = parse_location(location)
        if spec.synced:
            wanted.add(spec.location.rstrip("/"))
        elif not _is_url(location):
            wanted.add(str(await asyncio.to_thread(lambda: Path(location).expanduser().resolve())))
        match = next((p for p in pins if p.location.rstrip("/") in wanted), None)
        if match is None:  # `unpin https://docs.example.com/guide/` for the pin of its crawl
            bare = {w.partition("#")[0] for w in wanted}
            near = [p for p in pins if p.location.partition("#")[0].rstrip("/") in bare]
            match = near[0] if len(near) == 1 else None
        if match is None:
            raise NotFound(f"{location} is not pinned in '{space_id}'.")
        await self.store.remove_pin(space_id, match.location)
        state = await self.store.source_state(space_id, match.location)
        await self._until_warm()
        async with self._space_lease(space_id):
            if state is not None:  # a synced source: its documents are the ones it produced
                report = await self.pipeline.ingest_documents(
                    space_id, [], seen=set(), prune_ids=set(state.cursor.get("docs", ()))
                )
                await self.store.remove_source_state(space_id, match.location)
            else:
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

    async def acquire_lease(self, name: str, owner: str, ttl_s: float) -> bool:
        """A named lock with an expiry in the database, shared by every replica (event claims,
        the scheduler's leadership). True when ``owner`` holds it now."""
        return await self.store.acquire(name, owner, ttl_s)

    async def release_lease(self, name: str, owner: str) -> None:
        await self.store.release(name, owner)

    async def is_admin(self, platform: str, user_id: str) -> bool:
        return await self.store.is_admin(platform, user_id)

    async def add_admin(self, platform: str, user_id: str) -> None:
        await self.store.add_admin(platform, user_id)

    async def remove_admin(self, platform: str, user_id: str) -> bool:
        return await self.store.remove_admin(platform, user_id)

    # -- synced sources -------------------------------------------------------------------------

    async def source_states(self, space_id: str | None = None) -> list[SourceState]:
        """The last run of each site, sitemap, Git repository and Confluence source."""
        return await self.store.source_states(space_id)

    # -- what the admin console reads (docs/console.md) -----------------------------------------

    async def documents(self, space_id: str) -> list[DocumentRecord]:
        """The live documents of a space, by title."""
        live = await self.store.live_documents(space_id)
        return sorted(live.values(), key=lambda d: (d.title.casefold(), d.doc_id))

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

    # -- per-channel settings, suggested prompts, the conversation around a question -----------

    def _check_channel_settings(self, binding: Binding) -> None:
        if binding.mode not in CHANNEL_MODES:
            raise InvalidInput(f"'{binding.mode}' is not a mode: use {' or '.join(CHANNEL_MODES)}.")
        if binding.visibility not in VISIBILITIES:
            raise InvalidInput(
                f"'{binding.visibility}' is not a visibility: use {' or '.join(VISIBILITIES)}."
            )
        names = [t.name for t in self.doc_types]
        if binding.doc_type is not None and binding.doc_type not in names:
            raise InvalidInput(f"'{binding.doc_type}' is not a document type: use one of {', '.join(names)}.")
        if binding.lang is not None and binding.lang not in ANSWER_LANGS:
            raise InvalidInput(
                f"'{binding.lang}' is not a language ragbot answers in: use {', '.join(ANSWER_LANGS)}."
            )

    async def configure_channel(
        self, platform: str, channel_id: str, team_id: str = "", **changes: str | None
    ) -> Binding:
        """Change a bound channel's settings (``mode``, ``visibility``, ``doc_type``, ``lang``);
        the rest of its binding stays. The binding found is the one ``binding_for`` answers with."""
        allowed = {"mode", "visibility", "doc_type", "lang"}
        if unknown := set(changes) - allowed:
            raise InvalidInput(f"Unknown channel setting(s): {', '.join(sorted(unknown))}.")
        binding = await self.binding_for(platform, channel_id, team_id)
        if binding is None:
            raise InvalidInput("This channel is not bound to a space yet: bind it first.")
        updated = replace(binding, **changes)
        self._check_channel_settings(updated)
        await self.store.bind(updated)
        return updated

    async def top_questions(self, space_id: str, limit: int = 4) -> list[str]:
        """The questions most often answered from the space (declined ones never), the same
        question in another case or with other punctuation counted once, in its latest wording."""
        merged: dict[str, tuple[str, int]] = {}
        for text, times in await self.store.asked_questions(space_id, max(limit, 0) * 10):
            key = normalise_question(text)
            first, before = merged.get(key, (text, 0))
            merged[key] = (first, before + times)
        ranked = sorted(merged.values(), key=lambda pair: -pair[1])  # stable: ties keep recency order
        return [text for text, _ in ranked[: max(limit, 0)]]

    async def suggested_prompts(self, space_id: str, limit: int = 4) -> list[str]:
        """What to suggest asking in the space: the prompts an admin set, else its most asked questions."""
        chosen = await self.store.suggested_prompts(space_id)
        return chosen[:limit] if chosen else await self.top_questions(space_id, limit)

    async def admin_prompts(self, space_id: str) -> list[str]:
        """The prompts an admin set for the space (empty: the most asked questions are suggested)."""
        return await self.store.suggested_prompts(space_id)

    async def set_suggested_prompts(self, space_id: str, prompts: Sequence[str]) -> list[str]:
        """Set the space's suggested prompts (at most 4, as Slack shows them); none: back to the
        most asked questions."""
        check_space_id(space_id)
        cleaned = [" ".join(p.split()) for p in prompts if p.strip()]
        if len(cleaned) > 4:
            raise InvalidInput(f"Slack shows at most 4 suggested prompts; {len(cleaned)} were given.")
        if too_long := [p for p in cleaned if len(p) > 200]:
            raise InvalidInput(
                f"A suggested prompt is at most 200 characters: '{too_long[0][:40]}…' is longer."
            )
        await self.store.set_suggested_prompts(space_id, cleaned)
        return cleaned

    async def read_attachment(
        self, name: str, content: bytes, *, media_type: str | None = None, max_bytes: int = 5 * 1024 * 1024
    ) -> str:
        """A file attached in the conversation, as text for that answer's context; never ingested.
        Raises ``FileTooLarge``, ``UnsupportedType``, ``UnreadableDocument`` or ``EmptyDocument``."""
        if len(content) > max_bytes:
            raise FileTooLarge(
                f"{name} is {describe_size(len(content))}; files read as conversation are at most "
                f"{describe_size(max_bytes)}."
            )
        # logs, configs and code pasted as files are read as plain text, though not ingested as such
        media = (media_type or "").split(";", 1)[0].strip().lower()
        if (
            Path(name).suffix.lower() in _TEXT_LIKE
            or media in _TEXT_LIKE_MEDIA
            or media.startswith("text/x-")
        ):
            media_type = "text/plain"
        extracted = await asyncio.to_thread(extract, content, name=name, media_type=media_type)
        return extracted.text
