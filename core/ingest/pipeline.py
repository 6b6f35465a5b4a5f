"""Ingestion: sources -> documents -> chunks -> vectors -> both indexes -> live in the catalogue.

Idempotent by content hash: a document whose version (a hash of its cleaned text, title, the type
asked for and the pipeline that cuts and embeds it) is already live writes nothing. A changed document
is written under its new version, goes live in one catalogue write, and only then are its old
chunks deleted (see ``core.consistency``). A document that fails keeps its previous version
serving; the failure is reported with a reason, and the run goes on.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import PurePosixPath

from core.consistency import ReaderRegistry
from core.errors import CoreError, EmptyDocument, FileTooLarge, IngestError
from core.ingest.chunking import ChunkingConfig, chunk_document
from core.ingest.extract import extract
from core.ingest.kinds import RawDocument
from core.ingest.sources import SourceRef, expand, read, root_of
from core.models import (
    PASSAGE_FORMAT,
    Chunk,
    DocOutcome,
    Document,
    DocumentRecord,
    IngestReport,
    OutcomeStatus,
)
from core.ports import Catalog, DocTypeClassifier, Embedder, Fetcher, KeywordIndex, Lifecycle, VectorIndex
from core.settings import IngestSettings
from core.text import detect_lang

__all__ = ["IngestPipeline", "Progress"]

log = logging.getLogger(__name__)

# what the version hashes when no doc_type was asked for: the classifier decides at write time
_AUTO_TYPE = "auto"

Progress = Callable[[str, int, int], None]  # (stage "read" | "write", documents done, documents total)


@dataclass
class _Pending:
    """A document being written: live once all its chunks are in both indexes."""

    doc: Document
    chunks: list[Chunk]
    previous: DocumentRecord | None
    remaining: int


class IngestPipeline:
    def __init__(
        self,
        *,
        embedder: Embedder,
        vectors: VectorIndex,
        keywords: KeywordIndex,
        catalog: Catalog,
        readers: ReaderRegistry,
        fetcher: Fetcher | None = None,
        classifier: DocTypeClassifier | None = None,
        settings: IngestSettings | None = None,
        embed_batch: int = 64,
    ) -> None:
        self.embedder = embedder
        self.vectors = vectors
        self.keywords = keywords
        self.catalog = catalog
        self.readers = readers
        self.fetcher = fetcher
        self.classifier = classifier
        self.settings = settings or IngestSettings()
        self.chunking = ChunkingConfig(
            target_tokens=self.settings.chunk_target_tokens,
            max_tokens=self.settings.chunk_max_tokens,
            min_tokens=self.settings.chunk_min_tokens,
            overlap_tokens=self.settings.chunk_overlap_tokens,
        )
        self.embed_batch = embed_batch
        self._space_locks: dict[str, asyncio.Lock] = {}
        self._classifier_ready = False
        self._classifier_lock = asyncio.Lock()

    @property
    def fingerprint(self) -> str:
        """Changing the embedder, what it is given or the chunking makes every document a new
        version."""
        c = self.chunking
        sizes = f"{c.target_tokens}/{c.max_tokens}/{c.min_tokens}/{c.overlap_tokens}"
        return f"{self.embedder.name}|{PASSAGE_FORMAT}|{sizes}"

    def _lock(self, space_id: str) -> asyncio.Lock:
        return self._space_locks.setdefault(space_id, asyncio.Lock())

    def space_busy(self, space_id: str) -> bool:
        return self._lock(space_id).locked()

    # -- entry points -------------------------------------------------------------------------

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
        """Ingest files, folders and URLs. With ``prune``, documents of the space that lie under
        these locations but no longer exist there are removed; with ``force``, unchanged documents
        are written again (to rebuild lost or damaged indexes)."""
        started = time.perf_counter()
        refs, outcomes = expand(locations)
        docs: list[Document] = []
        for i, ref in enumerate(refs):
            try:
                docs.append(await self.load(ref, doc_type=doc_type))
            except CoreError as e:
                outcomes.append(DocOutcome(ref.location, OutcomeStatus.FAILED, ref.doc_id, reason=e.message))
                log.warning("ingest.failed source=%s code=%s reason=%s", ref.location, e.code, e.message)
            if progress:
                progress("read", i + 1, len(refs))
        roots = {root_of(loc) for loc in locations}
        written = await self.ingest_documents(
            space_id,
            docs,
            prune_roots=roots if prune else None,
            seen={r.doc_id for r in refs},
            progress=progress,
            force=force,
        )
        return IngestReport(space_id, tuple(outcomes) + written.outcomes, time.perf_counter() - started)

    async def load(self, ref: SourceRef, *, doc_type: str | None = None) -> Document:
        content, name, media_type = await read(
            ref, max_bytes=int(self.settings.max_file_mb * 1024 * 1024), fetcher=self.fetcher
        )
        extracted = await asyncio.to_thread(extract, content, name=name, media_type=media_type)
        return await self.make_document(
            doc_id=ref.doc_id,
            source=ref.location,
            title=extracted.title or PurePosixPath(name).stem or ref.location,
            text=extracted.text,
            metadata=dict(extracted.metadata),
            doc_type=doc_type,
        )

    async def load_raw(self, raw: RawDocument, *, doc_type: str | None = None) -> Document:
        """A document a source kind read (a crawled page, a file of a Git repository, a
        Confluence page): extracted like any file, under the title the source gives, if any."""
        if len(raw.content) > int(self.settings.max_file_mb * 1024 * 1024):
            raise FileTooLarge(
                f"{raw.source} is over the {self.settings.max_file_mb:g} MB limit (INGEST_MAX_FILE_MB)."
            )
        extracted = await asyncio.to_thread(extract, raw.content, name=raw.name, media_type=raw.media_type)
        return await self.make_document(
            doc_id=raw.doc_id,
            source=raw.source,
            title=raw.title or extracted.title or PurePosixPath(raw.name).stem or raw.source,
            text=extracted.text,
            metadata=dict(extracted.metadata),
            doc_type=doc_type,
        )

    async def make_document(
        self,
        *,
        doc_id: str,
        source: str,
        title: str,
        text: str,
        metadata: dict[str, str] | None = None,
        doc_type: str | None = None,
        lang: str | None = None,
    ) -> Document:
        """A Document with its language and version settled: the one place they are decided.

        The version hashes the type asked for (given, from front matter, or "auto"), not the type
        the classifier would decide: so an unchanged document is recognised before any model runs,
        and re-reading a pinned source costs reading and hashing it. ``ingest_documents``
        classifies only the documents it is about to write."""
        metadata = metadata or {}
        if not text.strip():
            raise EmptyDocument(f"{title or source}: no text left after clean-up")
        doc_type = doc_type or metadata.get("doc_type") or metadata.get("type") or None
        lang = lang or metadata.get("lang") or detect_lang(f"{title}\n{text[:4000]}")
        digest = hashlib.sha256()
        for part in (self.fingerprint, doc_type or _AUTO_TYPE, title, text):
            digest.update(part.encode())
            digest.update(b"\0")
        return Document(
            doc_id=doc_id,
            source=source,
            title=title,
            text=text,
            content_hash=digest.hexdigest(),
            lang=lang,
            doc_type=doc_type,
            metadata=metadata,
        )

    async def ingest_documents(
        self,
        space_id: str,
        docs: Sequence[Document],
        *,
        prune_roots: set[str] | None = None,
        seen: set[str] | None = None,
        progress: Progress | None = None,
        fail_after: int | None = None,
        force: bool = False,
        prune_ids: set[str] | None = None,
    ) -> IngestReport:
        """Write documents whose version is not live yet; prune vanished ones under ``prune_roots``
        and, for synced sources, those of ``prune_ids`` (the documents the source produced before).

        ``fail_after`` is a test seam: raise after that many documents went live, as a crash
        half-way through a run would."""
        started = time.perf_counter()
        async with self._lock(space_id):
            live = await self.catalog.live_documents(space_id)
            outcomes: list[DocOutcome] = []
            todo: list[_Pending] = []
            for doc in docs:
                previous = live.get(doc.doc_id)
                if previous is not None and previous.version == doc.content_hash and not force:
                    outcomes.append(
                        DocOutcome(doc.source, OutcomeStatus.UNCHANGED, doc.doc_id, previous.chunks)
                    )
                    continue
                doc = await self._typed(doc)
                chunks = chunk_document(doc, space_id, self.chunking)
                todo.append(_Pending(doc, chunks, previous, len(chunks)))
            outcomes += await self._write(space_id, todo, progress, fail_after)
            if prune_roots is not None or prune_ids is not None:
                outcomes += await self._prune(
                    space_id,
                    live,
                    prune_roots or set(),
                    (seen or set()) | {d.doc_id for d in docs},
                    prune_ids,
                )
        return IngestReport(space_id, tuple(outcomes), time.perf_counter() - started)

    async def _typed(self, doc: Document) -> Document:
        """The document with its doc_type: as asked, else the classifier's decision, else unknown."""
        if doc.doc_type or self.classifier is None:
            return doc
        await self._start_classifier()
        try:
            decision = await self.classifier.classify(
                title=doc.title, text=doc.text, source=doc.source, metadata=doc.metadata
            )
        except CoreError as e:  # the document is still worth finding, untyped
            log.warning("ingest.unclassified source=%s code=%s reason=%s", doc.source, e.code, e.message)
            return replace(doc, doc_type="unknown")
        return replace(doc, doc_type=decision.doc_type)

    async def _start_classifier(self) -> None:
        """Loaded on the first document that needs it: answering questions never pays for it."""
        if self._classifier_ready:
            return
        async with self._classifier_lock:
            if not self._classifier_ready and isinstance(self.classifier, Lifecycle):
                await self.classifier.start()
            self._classifier_ready = True

    async def aclose(self) -> None:
        if self._classifier_ready and isinstance(self.classifier, Lifecycle):
            await self.classifier.aclose()
        self._classifier_ready = False

    async def remove_document(self, space_id: str, doc_id: str) -> bool:
        async with self._lock(space_id):
            live = await self.catalog.live_documents(space_id)
            if doc_id not in live:
                return False
            await self._remove(space_id, doc_id)
            return True

    # -- internals ----------------------------------------------------------------------------

    async def _write(
        self, space_id: str, todo: list[_Pending], progress: Progress | None, fail_after: int | None
    ) -> list[DocOutcome]:
        outcomes: list[DocOutcome] = []
        retired: list[DocumentRecord] = []
        queue = [(p, c) for p in todo for c in p.chunks]
        failed: set[str] = set()
        done = 0
        for start in range(0, len(queue), self.embed_batch):
            batch = [(p, c) for p, c in queue[start : start + self.embed_batch] if p.doc.doc_id not in failed]
            if not batch:
                continue
            chunks = [c for _, c in batch]
            try:
                vectors = await self.embedder.embed_documents([c.passage for c in chunks])
                await self.vectors.upsert(chunks, vectors)
                await self.keywords.upsert(chunks)
            except CoreError as e:
                for p in {id(p): p for p, _ in batch}.values():
                    if p.doc.doc_id not in failed:
                        failed.add(p.doc.doc_id)
                        outcomes.append(self._failure(p, e))
                continue
            for pending, _ in batch:
                pending.remaining -= 1
                if pending.remaining == 0:
                    outcomes.append(await self._go_live(space_id, pending))
                    if pending.previous is not None and pending.previous.version != pending.doc.content_hash:
                        retired.append(pending.previous)
                    done += 1
                    if progress:
                        progress("write", done, len(todo))
                    if fail_after is not None and done >= fail_after:
                        raise IngestError(f"injected failure after {done} documents")
        # old versions go only after searches that may still use them have finished
        if retired:
            await self.readers.drain()
            for record in retired:
                await self.vectors.delete(space_id, record.doc_id, record.version)
                await self.keywords.delete(space_id, record.doc_id, record.version)
        return outcomes

    async def _go_live(self, space_id: str, pending: _Pending) -> DocOutcome:
        doc = pending.doc
        await self.catalog.set_live(
            DocumentRecord(
                space_id=space_id,
                doc_id=doc.doc_id,
                source=doc.source,
                title=doc.title,
                version=doc.content_hash,
                doc_type=doc.doc_type or "unknown",
                lang=doc.lang,
                chunks=len(pending.chunks),
                ingested_at=datetime.now(UTC),
            )
        )
        status = OutcomeStatus.ADDED if pending.previous is None else OutcomeStatus.UPDATED
        log.debug(
            "ingest.live space=%s doc=%s status=%s chunks=%d",
            space_id,
            doc.doc_id,
            status.value,
            len(pending.chunks),
        )
        return DocOutcome(doc.source, status, doc.doc_id, len(pending.chunks))

    @staticmethod
    def _failure(pending: _Pending, error: CoreError) -> DocOutcome:
        log.warning(
            "ingest.failed source=%s code=%s reason=%s", pending.doc.source, error.code, error.message
        )
        return DocOutcome(pending.doc.source, OutcomeStatus.FAILED, pending.doc.doc_id, reason=error.message)

    async def _prune(
        self,
        space_id: str,
        live: dict[str, DocumentRecord],
        roots: set[str],
        seen: set[str],
        ids: set[str] | None = None,
    ) -> list[DocOutcome]:
        outcomes = []
        for doc_id, record in live.items():
            owned = ids is not None and doc_id in ids
            if doc_id in seen or not (owned or any(_under(record.source, root) for root in roots)):
                continue
            await self._remove(space_id, doc_id)
            outcomes.append(DocOutcome(record.source, OutcomeStatus.REMOVED, doc_id, record.chunks))
        return outcomes

    async def _remove(self, space_id: str, doc_id: str) -> None:
        await self.catalog.remove(space_id, doc_id)
        await self.readers.drain()
        await self.vectors.delete(space_id, doc_id)
        await self.keywords.delete(space_id, doc_id)
        log.info("ingest.removed space=%s doc=%s", space_id, doc_id)


def _under(source: str, root: str) -> bool:
    """A source (absolute path or URL) lies under a root (a folder, file or URL)."""
    return source == root or source.startswith(root if root.endswith((":", "/")) else root + "/")
