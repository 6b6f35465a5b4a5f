"""KeywordIndex on Whoosh: one BM25F index per space, in Russian and English.

BM25 takes its term statistics (how many chunks hold a term, the average field length) from the
whole Whoosh index it searches. With one index shared by all spaces, the documents of one space
moved the ranking in every other (adding a 13k-chunk corpus elsewhere changed nDCG@10 of the
deckhouse eval set by ~0.01). So each space has its own index, ``directory/<space>/`` (the space
id itself when it is a plain name, ``_space-<sha256 prefix>`` otherwise), created by the space's
first upsert: a space ranks exactly as if it were alone, and no statistic of another space leaks
into it. A search never filters by space (it reads only the space's own index); a ``doc_type``
filter is required inside the query. How a chunk is analysed and scored, and the Whoosh bugs
worked around, are in ``core.backends.whoosh_space``; all of it holds per space, including the
re-index when the analysis fingerprint changes (done at ``start()`` for the spaces that need it).

``start()`` lists the space directories and reads their fingerprints, nothing more; a space's
index is opened at its first use and stays open. Each space has its own write lock, so a bulk
load of one space does not hold up writes to another, and reads never wait for any write. An open
reader holds about four files per segment: past ``max_open_readers`` spaces, the least recently
read space's reader is closed (reopened by its next read), so hundreds of spaces stay within the
process's file limit.

Migration: an index written before this layout (one shared Whoosh index at the top of
``directory``) is moved into per-space indexes at ``start()``, from the chunks it stores (no
re-embedding), and then deleted; see ``migrate_shared_index``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import shutil
import threading
import time
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from whoosh import index as whoosh_index
from whoosh.reading import CorruptIndexError

from core.backends.text_analysis import TermAnalyzer
from core.backends.whoosh_space import (
    COMMIT_SLICE,
    META_FILE,
    KeywordTuning,
    SpaceIndex,
    chunk_from_stored,
    has_index,
    index_schema,
    question_query,
    read_meta,
)
from core.errors import IndexUnavailable
from core.models import Chunk, ScoredChunk, SearchFilters

__all__ = ["WhooshKeywordIndex", "KeywordTuning", "migrate_shared_index", "space_dir_name"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_PLAIN_SPACE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# The names a shared index (the old layout) puts at the top of the directory, beside the space
# directories during a migration: a space id that could collide with them is hashed instead.
_SHARED_NAMES = ("MAIN_", META_FILE)
_HASHED_PREFIX = "_space-"
_DROPPED_PREFIX = "_dropped-"


def space_dir_name(space_id: str) -> str:
    """The directory name of a space's index: the id when it is a plain name, else a hash of it
    (ids are validated upstream, but a path component is no place to trust that)."""
    if _PLAIN_SPACE_ID.fullmatch(space_id) and not space_id.startswith(_SHARED_NAMES):
        return space_id
    return _HASHED_PREFIX + hashlib.sha256(space_id.encode("utf-8")).hexdigest()[:32]


@dataclass
class _Space:
    index: SpaceIndex
    write_lock: asyncio.Lock


class WhooshKeywordIndex:
    """The keyword index in ``directory``: one Whoosh index per space below it (created if
    missing, reopened if present, migrated from the old shared layout if found there)."""

    backend = "whoosh"

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        tuning: KeywordTuning | None = None,
        analyzer: TermAnalyzer | None = None,
        lock_timeout_s: float = 30.0,
        writer_limitmb: int = 256,
        max_open_readers: int = 64,
    ) -> None:
        self._dir = Path(directory)
        self._tuning = tuning or KeywordTuning()
        self._analyzer = analyzer or TermAnalyzer()
        self._lock_timeout_s = lock_timeout_s
        self._writer_limitmb = writer_limitmb
        self._max_open_readers = max(1, max_open_readers)
        self._started = False
        self._start_lock = asyncio.Lock()
        self._spaces: dict[str, _Space] = {}  # touched on the event loop only
        # Spaces whose reader may be open, least recently read first (touched from worker threads).
        self._readers: OrderedDict[str, SpaceIndex] = OrderedDict()
        self._readers_lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        async with self._start_lock:
            if not self._started:
                await asyncio.to_thread(self._prepare)
                self._started = True

    async def aclose(self) -> None:
        async with self._start_lock:
            self._started = False
            for space in list(self._spaces.values()):
                async with space.write_lock:
                    await asyncio.to_thread(space.index.close)
            self._spaces.clear()
            with self._readers_lock:
                self._readers.clear()

    # -- KeywordIndex ---------------------------------------------------------------------------

    async def upsert(self, chunks: Sequence[Chunk]) -> None:
        if not chunks:
            return
        self._require_started()
        by_space: dict[str, list[Chunk]] = defaultdict(list)
        for chunk in chunks:
            by_space[chunk.space_id].append(chunk)
        for space_id, group in by_space.items():
            await self._write(space_id, SpaceIndex.upsert, group)

    async def search(self, text: str, filters: SearchFilters, limit: int) -> list[ScoredChunk]:
        if limit <= 0:
            return []
        self._require_started()
        space = await self._existing(filters.space_id)
        if space is None:
            return []
        return await asyncio.to_thread(self._search, space.index, text, filters.doc_type, limit)

    async def delete(self, space_id: str, doc_id: str, version: str | None = None) -> None:
        self._require_started()
        if await self._existing(space_id) is not None:
            await self._write(space_id, SpaceIndex.delete, doc_id, version)

    async def drop_space(self, space_id: str) -> None:
        """Close the space's index and delete its directory."""
        self._require_started()
        space = await self._existing(space_id)
        if space is None:
            return
        async with space.write_lock:
            if self._spaces.get(space_id) is space:
                del self._spaces[space_id]  # from now on the space is new: its next upsert creates it
            with self._readers_lock:
                if self._readers.get(space_id) is space.index:
                    del self._readers[space_id]
            await asyncio.to_thread(self._drop, space.index)
        log.info("keyword index dropped space=%s", space_id)

    async def count(self, space_id: str | None = None) -> int:
        self._require_started()
        if space_id is not None:
            space = await self._existing(space_id)
            return 0 if space is None else await asyncio.to_thread(space.index.count)
        spaces = await self._all_spaces()
        return await asyncio.to_thread(lambda: sum(space.index.count() for space in spaces))

    async def stats(self) -> dict[str, Any]:
        """Totals over the spaces (live chunks, chunks deleted but not yet merged away, segments,
        bytes on disk), the number of spaces and of open readers, and each space's figures."""
        self._require_started()
        spaces = await self._all_spaces()
        by_space = await asyncio.to_thread(lambda: {s.index.space_id: s.index.stats() for s in spaces})
        totals = {
            key: sum(s[key] for s in by_space.values())
            for key in ("docs", "deleted", "segments", "disk_bytes")
        }
        with self._readers_lock:
            open_readers = len(self._readers)
        return {**totals, "spaces": len(by_space), "open_readers": open_readers, "by_space": by_space}

    async def optimize(self) -> None:
        """Merge each space's segments into one: after a bulk load, fewer segments make queries
        cheaper and the index smaller (100k chunks, 14 segments -> 1: query CPU p50 17.5 -> 11 ms,
        disk 250 -> 208 MB), at the cost of rewriting every chunk (~1.6 ms of CPU a chunk) while
        that space's writes wait; reads go on."""
        self._require_started()
        for space in await self._all_spaces():
            await self._write(space.index.space_id, SpaceIndex.optimize)

    # -- spaces ---------------------------------------------------------------------------------

    def space_directory(self, space_id: str) -> Path:
        """Where the index of ``space_id`` lives (whether or not it exists yet)."""
        return self._dir / space_dir_name(space_id)

    def _space(self, space_id: str) -> _Space:
        """The space's entry, made on first need (nothing is opened here)."""
        space = self._spaces.get(space_id)
        if space is None:
            space = self._spaces[space_id] = _Space(self._space_index(space_id), asyncio.Lock())
        return space

    async def _existing(self, space_id: str) -> _Space | None:
        """The space's entry if it has an index (reads of unknown spaces leave no entry behind)."""
        space = self._spaces.get(space_id)
        if space is None and await asyncio.to_thread(has_index, self.space_directory(space_id)):
            space = self._space(space_id)
        return space

    async def _all_spaces(self) -> list[_Space]:
        found = await asyncio.to_thread(self._space_dirs)
        return [self._space(space_id) for space_id in found]

    async def _write(self, space_id: str, action: Callable[..., T], *args: Any) -> T:
        """Run ``action(space_index, *args)`` in a thread under the space's write lock."""
        while True:
            space = self._space(space_id)
            async with space.write_lock:
                if not space.index.retired:  # else dropped while we waited: its successor takes it
                    return await asyncio.to_thread(action, space.index, *args)

    def _require_started(self) -> None:
        if not self._started:
            raise IndexUnavailable("The keyword index is not open (start() was not called).")

    # -- in worker threads ----------------------------------------------------------------------

    def _prepare(self) -> None:
        """Create the directory, migrate a shared index, clear leftovers, and re-index the spaces
        whose analysis changed. Opens nothing else: spaces open at first use."""
        with self._translated("open"):
            self._dir.mkdir(parents=True, exist_ok=True)
            if has_index(self._dir):
                migrate_shared_index(self._dir, self._space_index)
            _remove_shared_files(self._dir)  # a migration stopped after its table of contents went
            for leftover in self._dir.glob(f"{_DROPPED_PREFIX}*"):
                shutil.rmtree(leftover, ignore_errors=True)  # a drop stopped half-way
            found = self._space_dirs()
        reindexed = 0
        for space_id in found:
            space = self._space_index(space_id)
            if space.is_stale():
                space.open(create=False)
                space.close()
                reindexed += 1
        log.info("keyword index open dir=%s spaces=%d reindexed=%d", self._dir, len(found), reindexed)

    def _space_index(self, space_id: str) -> SpaceIndex:
        """A space's index object (nothing is opened here); outside ``_spaces`` only at start()."""
        return SpaceIndex(
            self.space_directory(space_id),
            space_id,
            tuning=self._tuning,
            analyzer=self._analyzer,
            lock_timeout_s=self._lock_timeout_s,
            writer_limitmb=self._writer_limitmb,
        )

    def _space_dirs(self) -> dict[str, Path]:
        """Space id -> directory, for every space with an index on disk."""
        found: dict[str, Path] = {}
        with self._translated("list spaces"):
            entries = [e for e in os.scandir(self._dir) if e.is_dir()]
        for entry in entries:
            path = Path(entry.path)
            if entry.name.startswith(_HASHED_PREFIX):
                space_id = (read_meta(path) or {}).get("space_id")
            elif entry.name.startswith("_"):
                continue  # ours, not a space (a drop in progress)
            else:
                space_id = entry.name
            if not isinstance(space_id, str) or space_dir_name(space_id) != entry.name or not has_index(path):
                log.warning("keyword index ignores a directory that is not a space's index: %s", path)
                continue
            found[space_id] = path
        return found

    def _search(self, index: SpaceIndex, text: str, doc_type: str | None, limit: int) -> list[ScoredChunk]:
        query = question_query(text, self._tuning, self._analyzer)
        if query is None:
            return []
        hits = index.search(query, doc_type, limit)
        if not index.retired:  # a read that raced a drop_space() found nothing to keep open
            self._note_reader(index)
        return hits

    def _note_reader(self, index: SpaceIndex) -> None:
        """Mark the space as just read; close the least recently read reader past the limit."""
        with self._readers_lock:
            self._readers[index.space_id] = index
            self._readers.move_to_end(index.space_id)
            evicted = (
                self._readers.popitem(last=False)[1] if len(self._readers) > self._max_open_readers else None
            )
        if evicted is not None:
            evicted.release_searcher()

    def _drop(self, index: SpaceIndex) -> None:
        index.retire()
        if not index.directory.exists():
            return
        grave = self._dir / f"{_DROPPED_PREFIX}{uuid.uuid4().hex}"
        with self._translated("drop a space"):
            index.directory.rename(grave)  # at once: nobody finds a half-deleted index
        shutil.rmtree(grave, ignore_errors=True)  # what is left is swept at the next start()

    @contextlib.contextmanager
    def _translated(self, action: str) -> Iterator[None]:
        try:
            yield
        except (whoosh_index.IndexError, CorruptIndexError, OSError) as e:
            raise IndexUnavailable(f"The keyword index at {self._dir} failed to {action}: {e}") from e


def migrate_shared_index(directory: Path, space_index: Callable[[str], SpaceIndex]) -> dict[str, int]:
    """Move a shared index (the layout before one index per space: one Whoosh index at the top of
    ``directory`` with a ``space_id`` per chunk) into per-space indexes, then delete its files.

    The chunks are re-analysed from their stored fields (``space_index(id)`` gives the index to
    write a space into). A first read of every stored chunk checks them all and groups their
    document numbers by space, before anything is written; then each space is written in slices of
    COMMIT_SLICE: the few, full segments a bulk load makes, and memory bounded by one slice.
    Safe to repeat after a crash: chunks are upserted by id, and the shared index is deleted only
    at the end, its table of contents first. Returns the chunks moved per space."""
    started = time.monotonic()
    moved: dict[str, int] = {}
    with _migration_errors(directory):
        shared = whoosh_index.open_dir(str(directory), schema=index_schema())
        lock = shared.lock("WRITELOCK")
        if not lock.acquire():
            raise IndexUnavailable(
                f"The shared keyword index at {directory} is locked by another writer; "
                "is another ragbot process using this data directory?"
            )
        try:
            with shared.searcher() as searcher:
                by_space: dict[str, list[int]] = defaultdict(list)
                for docnum, stored in searcher.reader().iter_docs():
                    try:
                        by_space[chunk_from_stored(stored).space_id].append(docnum)
                    except KeyError as e:
                        raise IndexUnavailable(
                            f"The keyword index at {directory} lacks stored field {e}; delete it and re-ingest."
                        ) from e
                log.warning(
                    "keyword index: moving a shared index into one index per space dir=%s spaces=%d chunks=%d",
                    directory,
                    len(by_space),
                    sum(map(len, by_space.values())),
                )
                for space_id, docnums in by_space.items():
                    space = space_index(space_id)
                    try:
                        for start in range(0, len(docnums), COMMIT_SLICE):
                            part = docnums[start : start + COMMIT_SLICE]
                            space.upsert([chunk_from_stored(searcher.stored_fields(n)) for n in part])
                    finally:
                        space.close()
                    moved[space_id] = len(docnums)
        finally:
            lock.release()
        _remove_shared_files(directory)
    log.warning(
        "keyword index: shared index moved dir=%s spaces=%d chunks=%d seconds=%.1f",
        directory,
        len(moved),
        sum(moved.values()),
        time.monotonic() - started,
    )
    return moved


def _remove_shared_files(directory: Path) -> None:
    """Delete the files of a shared index at the top of ``directory``: the table of contents
    first, so that an interrupted removal leaves no index, only files the next start removes."""
    files = [p for p in directory.iterdir() if p.is_file()]
    for path in sorted(files, key=lambda p: not p.name.startswith("_MAIN_")):
        if path.name.startswith(("_MAIN_", "MAIN_", META_FILE)):
            path.unlink(missing_ok=True)


@contextlib.contextmanager
def _migration_errors(directory: Path) -> Iterator[None]:
    try:
        yield
    except (whoosh_index.IndexError, CorruptIndexError, OSError) as e:
        raise IndexUnavailable(f"Moving the shared keyword index at {directory} failed: {e}") from e
