"""Every location of an ingest run, by its kind (``core.ingest.locations``): files, folders and
single URLs go to the pipeline as they always did; sites, sitemaps, Git repositories and
Confluence go through their reader, with the state of their last run (docs/sources.md):

1. the reader lists the source and reads only what its change hints say changed (a conditional
   request, a sitemap lastmod, a blob id, a page version), given the previous cursor; the hints
   are trusted only while the pipeline cuts and embeds as it did (its fingerprint and the
   doc_type asked for) and the document they name is still live;
2. what it read is extracted and handed to the pipeline, which writes only new versions (one
   atomic live-version flip per document) and, with ``prune`` and a complete listing, removes the
   documents this source produced before and no longer has;
3. the new cursor is saved: the hints of what went live or stayed unchanged (a document that
   failed loses its hint, so the next run reads it again), and the documents the source owns.

A source that cannot be read at all (unreachable, credentials refused, no such space) changes
nothing: its documents keep serving, its state records the error, the run reports it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from core.errors import CoreError, InvalidInput
from core.ingest.kinds import SourceReader, SyncContext, SyncRun
from core.ingest.kinds.confluence import ConfluenceReader
from core.ingest.kinds.git import GitReader
from core.ingest.kinds.web import WebReader
from core.ingest.locations import Kind, SourceSpec, parse
from core.ingest.pipeline import IngestPipeline, Progress
from core.models import DocOutcome, Document, IngestReport, OutcomeStatus, SourceState
from core.ports import ConfluenceClient, Fetcher, GitClient, Lifecycle, SourceStateStore
from core.settings import CrawlSettings

__all__ = ["SourceSync", "build_readers"]

log = logging.getLogger(__name__)

# kinds whose pages may repeat one another under other URLs: the same text is kept once
_WEB = frozenset({Kind.SITE, Kind.SITEMAP})
_KIND_NAMES = {
    Kind.SITE: "Sites",
    Kind.SITEMAP: "Sitemaps",
    Kind.GIT: "Git repositories",
    Kind.CONFLUENCE: "Confluence",
}


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SourceSync:
    def __init__(
        self,
        *,
        pipeline: IngestPipeline,
        states: SourceStateStore,
        readers: Mapping[Kind, SourceReader],
        clients: Sequence[Lifecycle] = (),
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.pipeline = pipeline
        self.states = states
        self.readers = dict(readers)
        self.clients = list(clients)  # started and closed with the service
        self.clock = clock

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
        started = time.perf_counter()
        outcomes: list[DocOutcome] = []
        plain: list[str] = []
        synced: list[SourceSpec] = []
        for location in locations:
            try:
                spec = parse(location)
            except InvalidInput as e:
                outcomes.append(DocOutcome(location, OutcomeStatus.FAILED, reason=e.message))
                log.warning("ingest.bad_location location=%s reason=%s", location, e.message)
                continue
            if spec.synced:
                synced.append(spec)
            else:
                plain.append(location)
        if plain:
            report = await self.pipeline.ingest(
                space_id, plain, doc_type=doc_type, prune=prune, force=force, progress=progress
            )
            outcomes += report.outcomes
        for spec in synced:
            report = await self.sync(
                space_id, spec, doc_type=doc_type, prune=prune, force=force, progress=progress
            )
            outcomes += report.outcomes
        return IngestReport(space_id, tuple(outcomes), time.perf_counter() - started)

    async def sync(
        self,
        space_id: str,
        spec: SourceSpec,
        *,
        doc_type: str | None = None,
        prune: bool = False,
        force: bool = False,
        progress: Progress | None = None,
    ) -> IngestReport:
        started = time.perf_counter()
        now = self.clock()
        previous = await self.states.source_state(space_id, spec.location)
        cursor = dict(previous.cursor) if previous else {}
        owned = set(cursor.get("docs", ()))
        fingerprint = f"{self.pipeline.fingerprint}|{doc_type or ''}"
        trusted = not force and cursor.get("fingerprint") == fingerprint
        live = await self.pipeline.catalog.live_documents(space_id)
        ctx = SyncContext(
            spec=spec,
            items=cursor.get("items", {}) if trusted else {},
            state=cursor.get("state", {}),
            live=frozenset(live),
            max_bytes=int(self.pipeline.settings.max_file_mb * 1024 * 1024),
            progress=progress,
        )
        reader = self.readers.get(spec.kind)
        try:
            if reader is None:
                raise InvalidInput(
                    f"{_KIND_NAMES[spec.kind]} cannot be read by this process (not configured)."
                )
            run = await reader.read(ctx)
        except Exception as e:  # a CoreError says what to fix; anything else is a bug to report, not to hide
            if isinstance(e, CoreError):
                reason = e.message
                log.warning(
                    "source.failed space=%s source=%s code=%s reason=%s",
                    space_id,
                    spec.location,
                    e.code,
                    reason,
                )
            else:
                reason = f"An unexpected error while reading this source ({type(e).__name__}); see the log."
                log.exception("source.crashed space=%s source=%s", space_id, spec.location)
            await self.states.save_source_state(
                SourceState(
                    space_id,
                    spec.location,
                    spec.kind.value,
                    last_run_at=now,
                    last_success_at=previous.last_success_at if previous else None,
                    last_error=reason,
                    documents=len(owned & set(live)),
                    skipped=0,
                    cursor=cursor,
                )
            )
            failed = DocOutcome(spec.location, OutcomeStatus.FAILED, reason=reason)
            return IngestReport(space_id, (failed,), time.perf_counter() - started)

        docs, outcomes, unreadable = await self._extract(run, spec, doc_type, frozenset(live))
        seen = {d.doc_id for d in docs} | run.unchanged | run.kept
        prune_ids = (owned - seen) if prune and run.complete else None
        written = await self.pipeline.ingest_documents(
            space_id, docs, seen=seen, progress=progress, force=force, prune_ids=prune_ids
        )
        unchanged = [
            DocOutcome(live[d].source, OutcomeStatus.UNCHANGED, d, live[d].chunks)
            for d in sorted(run.unchanged)
            if d in live
        ]
        outcomes += list(written.outcomes) + unchanged
        bad = unreadable | {o.doc_id for o in written.failed}
        live_after = await self.pipeline.catalog.live_documents(space_id)
        owned_after = sorted((owned | seen) & set(live_after))
        failures = [o for o in outcomes if o.status is OutcomeStatus.FAILED]
        error = "; ".join(f"{o.source}: {o.reason}" for o in failures)[:500] or None
        await self.states.save_source_state(
            SourceState(
                space_id,
                spec.location,
                spec.kind.value,
                last_run_at=now,
                last_success_at=now if not failures else (previous.last_success_at if previous else None),
                last_error=error,
                documents=len(owned_after),
                skipped=sum(1 for o in outcomes if o.status is OutcomeStatus.SKIPPED),
                cursor={
                    "fingerprint": fingerprint,
                    "items": {k: v for k, v in run.items.items() if v.get("doc") not in bad},
                    "state": run.state,
                    "docs": owned_after,
                    "last_run": {
                        "requests": run.requests,
                        "read": len(run.docs),
                        "unchanged": len(run.unchanged),
                    },
                },
            )
        )
        log.info(
            "source.synced space=%s source=%s requests=%d read=%d unchanged=%d written=%d failed=%d complete=%s",
            space_id, spec.location, run.requests, len(run.docs), len(run.unchanged),
            written.count(OutcomeStatus.ADDED) + written.count(OutcomeStatus.UPDATED), len(failures), run.complete,
        )  # fmt: skip
        return IngestReport(space_id, tuple(outcomes), time.perf_counter() - started)

    async def _extract(
        self, run: SyncRun, spec: SourceSpec, doc_type: str | None, live: frozenset[str]
    ) -> tuple[list[Document], list[DocOutcome], set[str]]:
        """Documents of what the reader read; failures and duplicates reported, the ids of the
        unreadable ones returned (their hints are dropped, so the next run reads them again)."""
        docs: list[Document] = []
        outcomes = list(run.outcomes)
        unreadable: set[str] = set()
        by_text: dict[str, Document] = {}
        for raw in run.docs:
            try:
                doc = await self.pipeline.load_raw(raw, doc_type=doc_type)
            except CoreError as e:
                outcomes.append(DocOutcome(raw.source, OutcomeStatus.FAILED, raw.doc_id, reason=e.message))
                log.warning("ingest.failed source=%s code=%s reason=%s", raw.source, e.code, e.message)
                unreadable.add(raw.doc_id)
                if raw.doc_id in live:
                    run.kept.add(raw.doc_id)  # the version that was readable keeps serving
                continue
            twin = by_text.get(doc.content_hash) if spec.kind in _WEB else None
            if twin is not None:
                outcomes.append(
                    DocOutcome(raw.source, OutcomeStatus.SKIPPED, reason=f"the same text as {twin.source}")
                )
                if raw.item in run.items:
                    run.items[raw.item] = run.items[raw.item] | {"doc": None}
                continue
            by_text[doc.content_hash] = doc
            docs.append(doc)
        return docs, outcomes, unreadable


def build_readers(
    *,
    fetcher: Fetcher | None,
    git: GitClient | None,
    confluence: ConfluenceClient | None,
    crawl: CrawlSettings,
) -> dict[Kind, SourceReader]:
    """A reader for each kind whose client this process has (a kind without one says so when used)."""
    readers: dict[Kind, SourceReader] = {}
    if fetcher is not None:
        web = WebReader(fetcher, crawl)
        readers[Kind.SITE] = readers[Kind.SITEMAP] = web
    if git is not None:
        readers[Kind.GIT] = GitReader(git)
    if confluence is not None:
        readers[Kind.CONFLUENCE] = ConfluenceReader(confluence, crawl)
    return readers
