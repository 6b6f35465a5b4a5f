"""Source kinds that keep state between runs: a crawled site, a sitemap, a Git repository,
Confluence. Each reader expands one location into the documents that changed since its last run,
using the change hints its cursor keeps (ETag / Last-Modified, sitemap lastmod, Git blob ids,
Confluence page versions), so that re-reading an unchanged source costs a few requests.

A reader never writes: ``core.ingest.sync`` hands what it read to the pipeline (idempotent by
content hash, one atomic live-version flip per document), prunes what the source no longer has,
and saves the new cursor (docs/sources.md)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.ingest.locations import SourceSpec
from core.models import DocOutcome

__all__ = ["RawDocument", "SyncContext", "SyncRun", "SourceReader", "Progress"]

Progress = Callable[[str, int, int], None]  # as core.ingest.pipeline.Progress


@dataclass(frozen=True)
class RawDocument:
    """One document as its source gave it, before extraction."""

    doc_id: str  # stable across runs: the page URL, repository + path, wiki + page id
    source: str  # what answers cite: the page's URL, the file on its forge at that commit, or a path
    name: str  # a file name whose extension tells the format when the media type does not
    content: bytes
    media_type: str | None = None
    title: str | None = None  # a title the source knows better than the text (a Confluence page's)
    item: str = ""  # the key of its entry in the cursor's items


@dataclass(frozen=True)
class SyncContext:
    spec: SourceSpec
    items: Mapping[str, Mapping[str, Any]]  # the previous run's items; empty when hints cannot be trusted
    state: Mapping[str, Any]  # the previous run's kind-level cursor (a commit, ...)
    live: frozenset[str]  # doc_ids live in the space now
    max_bytes: int  # INGEST_MAX_FILE_MB
    progress: Progress | None = None


@dataclass
class SyncRun:
    """What one read of a source found."""

    docs: list[RawDocument] = field(default_factory=list)  # read: to extract and write if changed
    unchanged: set[str] = field(default_factory=set)  # doc_ids the hints show unchanged (not read)
    kept: set[str] = field(default_factory=set)  # failed to read this time: the live version stays
    outcomes: list[DocOutcome] = field(default_factory=list)  # FAILED and SKIPPED
    items: dict[str, dict[str, Any]] = field(default_factory=dict)  # per item: {"doc": doc_id | None, hints}
    state: dict[str, Any] = field(default_factory=dict)  # kind-level cursor for the next run
    complete: bool = True  # everything the source has was listed: what was not seen may be pruned
    requests: int = 0  # network requests made (HTTP requests; one per git fetch)


class SourceReader(Protocol):
    async def read(self, ctx: SyncContext) -> SyncRun:
        """Raises a ``CoreError`` when the source as a whole cannot be read (unreachable,
        credentials refused, no such space); per-item trouble goes into ``SyncRun.outcomes``."""
