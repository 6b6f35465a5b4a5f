"""KeywordIndex on Whoosh: BM25F over chunk titles, heading paths and text, in Russian and English.

Each chunk is one Whoosh document with two scored fields: ``terms_x`` holds its exact terms and
``terms_s`` their Snowball stems (``core.backends.text_analysis``). Within a field, a term's
weight is BM25F's weighted frequency: a title occurrence counts ``title_weight``, a heading
``headings_weight``, a text occurrence 1 (one saturation over the whole chunk, rather than a sum
of per-field BM25s that saturates each field separately, and a third of the postings to read). A
question becomes an OR of its exact terms (boosted ``exact_weight``) and its stems (boosted
``stemmed_weight``); those boosts are query-time knobs, so exact-vs-stemmed can be tuned on a
live index. ``space_id`` and ``doc_type`` are ID fields that the query itself requires (Whoosh's
``Require``): a space's top-N is computed over that space alone, never cut from a global top-N,
and other spaces' postings are skipped rather than scored.

Analysis happens here, not in Whoosh: the scored fields take an already analysed term mapping
(``_AnalysedField``), so each text is tokenised once for both forms. Everything that shapes the
postings (analyzer, forms, title and heading weights) is fingerprinted beside the index; when it
changes, ``start()`` re-indexes every chunk from its stored fields in one commit.

Concurrency: one writer at a time (an asyncio lock in this process, Whoosh's file lock between
processes); reads share one searcher, serialised by a thread lock (Whoosh readers keep per-file
state, and pure-Python search holds the GIL anyway) and refreshed when the index generation moves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from whoosh import collectors, scoring
from whoosh import index as whoosh_index
from whoosh.fields import ID, STORED, TEXT, Schema
from whoosh.query import And, Query, Require, Term
from whoosh.query.compound import DefaultOr
from whoosh.reading import CorruptIndexError, ReaderClosed, SegmentReader
from whoosh.searching import Searcher
from whoosh.system import pack_uint
from whoosh.writing import CLEAR, IndexWriter

from core.backends.text_analysis import TermAnalyzer
from core.errors import IndexUnavailable
from core.models import Chunk, ScoredChunk, SearchFilters

__all__ = ["WhooshKeywordIndex", "KeywordTuning"]

log = logging.getLogger(__name__)

_SCHEMA_VERSION = 2
_META_FILE = "ragbot-keyword.json"
# Whoosh's posting pool spills to disk past ``limitmb``, and merging spilled runs back costs more
# than the indexing itself (a chunk makes ~100-200 postings): big upserts commit in slices, and
# no automatic merge writes a segment of more than _MERGE_MAX_DOCS (a merge stalls its commit:
# ~1.6 ms of CPU a chunk). ``optimize()`` merges everything into one segment, on request.
_COMMIT_SLICE = 5000
_MERGE_MAX_DOCS = 10_000
_MERGE_FACTOR = 8  # segments of one size tier merged together
_MERGE_DELETED_SHARE = 0.3  # a segment this much deleted is rewritten without its dead documents

Forms = Literal["both", "stemmed", "exact"]
_Weighted = dict[str, list[float]]  # term -> [frequency, BM25F weight]


class _AnalysedField(TEXT):
    """A scored field (frequencies, no positions) whose value is already analysed: a mapping
    term -> [frequency, weight]. The weight is the BM25 term frequency; the frequencies sum to
    the field length. A plain string still goes through Whoosh's analyzer (tools, debugging)."""

    def __init__(self) -> None:
        super().__init__(phrase=False)

    def index(self, value: Any, **kwargs: Any) -> Iterator[tuple[bytes, int, float, bytes]]:
        if isinstance(value, dict):
            for term, (freq, weight) in value.items():
                yield term.encode("utf-8"), int(freq), float(weight), pack_uint(int(freq))
        else:
            yield from super().index(value, **kwargs)


def _schema() -> Schema:
    return Schema(
        chunk_id=ID(stored=True, unique=True),
        space_id=ID(stored=True),
        doc_id=ID(stored=True),
        version=ID(stored=True),
        doc_type=ID(stored=True),
        position=STORED(),
        title=STORED(),
        heading_path=STORED(),
        text=STORED(),
        source=STORED(),
        lang=STORED(),
        n_tokens=STORED(),
        terms_x=_AnalysedField(),
        terms_s=_AnalysedField(),
    )


@dataclass(frozen=True)
class KeywordTuning:
    """How chunks are indexed and questions scored.

    Index time (changing them re-indexes from stored fields at the next ``start()``): ``forms``
    indexed, and the weight of a title or heading occurrence relative to a text occurrence.
    Query time: ``exact_weight`` / ``stemmed_weight`` (0 leaves that form out: ``exact_weight=0``
    is stemmed BM25F, ``stemmed_weight=0`` plain BM25F), BM25's ``k1`` and ``b``, and ``coord``,
    Whoosh's bonus for documents matching more of the question's terms (0 < coord < 1; None: off).
    """

    forms: Forms = "both"
    title_weight: float = 2.0
    headings_weight: float = 1.5
    exact_weight: float = 1.0
    stemmed_weight: float = 1.0
    k1: float = 1.2
    b: float = 0.75
    coord: float | None = None
    max_query_terms: int = 64

    def index_shape(self) -> dict[str, Any]:
        return {
            "forms": self.forms,
            "title_weight": self.title_weight,
            "headings_weight": self.headings_weight,
        }


class WhooshKeywordIndex:
    """The keyword index in ``directory`` (created if missing, reopened if present)."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        tuning: KeywordTuning | None = None,
        analyzer: TermAnalyzer | None = None,
        lock_timeout_s: float = 30.0,
        writer_limitmb: int = 256,
    ) -> None:
        self._dir = Path(directory)
        self._tuning = tuning or KeywordTuning()
        self._analyzer = analyzer or TermAnalyzer()
        self._lock_timeout_s = lock_timeout_s
        self._writer_limitmb = writer_limitmb
        self._ix: whoosh_index.FileIndex | None = None
        self._searcher: Searcher | None = None
        self._write_lock = asyncio.Lock()
        self._read_lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        async with self._write_lock:
            if self._ix is None:
                await asyncio.to_thread(self._open)

    async def aclose(self) -> None:
        async with self._write_lock:
            await asyncio.to_thread(self._close)

    # -- KeywordIndex ---------------------------------------------------------------------------

    async def upsert(self, chunks: Sequence[Chunk]) -> None:
        if not chunks:
            return
        async with self._write_lock:
            await asyncio.to_thread(self._upsert, list(chunks))

    async def search(self, text: str, filters: SearchFilters, limit: int) -> list[ScoredChunk]:
        if limit <= 0:
            return []
        return await asyncio.to_thread(self._search, text, filters, limit)

    async def delete(self, space_id: str, doc_id: str, version: str | None = None) -> None:
        terms = [Term("space_id", space_id), Term("doc_id", doc_id)]
        if version is not None:
            terms.append(Term("version", version))
        async with self._write_lock:
            await asyncio.to_thread(self._delete, And(terms))

    async def drop_space(self, space_id: str) -> None:
        async with self._write_lock:
            await asyncio.to_thread(self._delete, Term("space_id", space_id))

    async def count(self, space_id: str | None = None) -> int:
        return await asyncio.to_thread(self._count, space_id)

    async def stats(self) -> dict[str, Any]:
        """Live chunks, chunks deleted but not yet merged away, segments, bytes on disk."""
        return await asyncio.to_thread(self._stats)

    async def optimize(self) -> None:
        """Merge all segments into one: after a bulk load, fewer segments make queries cheaper
        and the index smaller (100k chunks, 14 segments -> 1: query CPU p50 17.5 -> 11 ms, disk
        250 -> 208 MB), at the cost of rewriting every chunk (~1.6 ms of CPU a chunk, 160 s for
        100k) while writes wait; reads go on."""
        async with self._write_lock:
            await asyncio.to_thread(self._optimize)

    # -- opening --------------------------------------------------------------------------------

    def _open(self) -> None:
        with self._translated("open"):
            self._dir.mkdir(parents=True, exist_ok=True)
            schema = _schema()
            if whoosh_index.exists_in(str(self._dir)):
                # Our schema, not the pickled one: opening never depends on unpickling it.
                self._ix = whoosh_index.open_dir(str(self._dir), schema=schema)
            else:
                self._ix = whoosh_index.create_in(str(self._dir), schema)
            shape = {
                "schema": _SCHEMA_VERSION,
                "analysis": self._analyzer.fingerprint,
                **self._tuning.index_shape(),
            }
            try:
                if self._read_meta() != shape:
                    self._reindex()
                    self._write_meta(shape)
                self._searcher = self._new_searcher()
            except BaseException:
                self._ix = None  # not open: a later start() tries again
                raise
            docs = self._searcher.doc_count()
        log.info("keyword index open dir=%s docs=%d", self._dir, docs)

    def _close(self) -> None:
        with self._read_lock:
            if self._searcher is not None:
                self._searcher.close()
            self._searcher = None
            if self._ix is not None:
                self._ix.close()
            self._ix = None

    def _read_meta(self) -> dict[str, Any] | None:
        try:
            return json.loads((self._dir / _META_FILE).read_text())
        except (OSError, ValueError):
            return None

    def _write_meta(self, meta: dict[str, Any]) -> None:
        tmp = self._dir / f"{_META_FILE}.tmp"
        tmp.write_text(json.dumps(meta))
        tmp.replace(self._dir / _META_FILE)

    def _reindex(self) -> None:
        """Rewrite every chunk with the current analysis, from its stored fields, in one commit
        (readers see the old index until then; a crash before it leaves the old index whole)."""
        ix = self._require_ix()
        if ix.is_empty():
            return
        log.warning("keyword index analysis changed: re-indexing dir=%s", self._dir)
        with ix.searcher() as searcher:
            writer = self._writer()
            try:
                cache: dict[str, tuple[list[str], list[str]]] = {}
                for stored in searcher.all_stored_fields():
                    writer.add_document(**self._document(_chunk_from(stored), cache))
                writer.commit(mergetype=CLEAR)  # the new segment replaces all the old ones
            except KeyError as e:
                _cancel(writer)
                raise IndexUnavailable(
                    f"The keyword index at {self._dir} lacks stored field {e}; delete it and re-ingest."
                ) from e
            except BaseException:
                _cancel(writer)
                raise

    # -- writing --------------------------------------------------------------------------------

    def _writer(self) -> IndexWriter:
        # Not compound: Whoosh opens each part of a compound segment by copying it out of the mmap
        # into memory, so readers cost as much RAM as the index (100k chunks, 300 questions: RSS
        # 430 MB vs 34 MB) and every reopen after a commit copies again (per-document upsert CPU
        # p50 99 ms vs 24 ms). The price: reads are file reads, search CPU +20%.
        return self._require_ix().writer(
            timeout=self._lock_timeout_s, limitmb=self._writer_limitmb, compound=False
        )

    def _upsert(self, chunks: list[Chunk]) -> None:
        latest = list({c.chunk_id: c for c in chunks}.values())  # a repeated id: the last wins
        cache: dict[str, tuple[list[str], list[str]]] = {}
        with self._translated("write"):
            for start in range(0, len(latest), _COMMIT_SLICE):
                self._commit_slice(latest[start : start + _COMMIT_SLICE], cache)
        log.debug("keyword index upsert chunks=%d", len(latest))

    def _commit_slice(self, chunks: list[Chunk], cache: dict[str, tuple[list[str], list[str]]]) -> None:
        ix = self._require_ix()
        fresh = ix.is_empty()
        writer = self._writer()
        try:
            if not fresh:
                searcher = writer.searcher()
                for chunk in chunks:
                    writer.delete_by_term("chunk_id", chunk.chunk_id, searcher=searcher)
            for chunk in chunks:
                writer.add_document(**self._document(chunk, cache))
            writer.commit(mergetype=_tiered_merge)
        except BaseException:
            _cancel(writer)
            raise

    def _delete(self, query: Query) -> None:
        with self._translated("delete"):
            writer = self._writer()
            try:
                deleted = writer.delete_by_query(query)
                if deleted:
                    writer.commit(mergetype=_tiered_merge)
                else:
                    writer.cancel()
            except BaseException:
                _cancel(writer)
                raise
        log.debug("keyword index delete query=%s deleted=%d", query, deleted)

    def _document(self, chunk: Chunk, cache: dict[str, tuple[list[str], list[str]]]) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "chunk_id": chunk.chunk_id,
            "space_id": chunk.space_id,
            "doc_id": chunk.doc_id,
            "version": chunk.version,
            "doc_type": chunk.doc_type,
            "position": chunk.position,
            "title": chunk.title,
            "heading_path": list(chunk.heading_path),
            "text": chunk.text,
            "source": chunk.source,
            "lang": chunk.lang,
            "n_tokens": chunk.n_tokens,
        }
        tuning = self._tuning
        headings = "\n".join(h for h in chunk.heading_path if h != chunk.title)
        parts = (
            (self._analysed(chunk.title, cache), tuning.title_weight),
            (self._analysed(headings, cache), tuning.headings_weight),
            (self._analysed(chunk.text, None), 1.0),
        )
        if tuning.forms != "stemmed":
            fields["terms_x"] = _weighted((forms[0], weight) for forms, weight in parts)
        if tuning.forms != "exact":
            fields["terms_s"] = _weighted((forms[1], weight) for forms, weight in parts)
        return fields

    def _analysed(
        self, text: str, cache: dict[str, tuple[list[str], list[str]]] | None
    ) -> tuple[list[str], list[str]]:
        """(exact terms, stems). Titles and heading paths repeat across a document's chunks, so
        they are analysed once per batch."""
        forms = cache.get(text) if cache is not None else None
        if forms is None:
            exact = self._analyzer.terms(text)
            forms = (exact, self._analyzer.stems(exact))
            if cache is not None:
                cache[text] = forms
        return forms

    def _optimize(self) -> None:
        with self._translated("optimize"):
            writer = self._writer()
            try:
                writer.commit(optimize=True)
            except BaseException:
                _cancel(writer)
                raise

    # -- reading --------------------------------------------------------------------------------

    def _search(self, text: str, filters: SearchFilters, limit: int) -> list[ScoredChunk]:
        query = self._query(text)
        if query is None:
            return []
        allowed: Query = Term("space_id", filters.space_id)
        if filters.doc_type is not None:
            allowed = And([allowed, Term("doc_type", filters.doc_type)])
        # Require: documents of the space that match the question, scored by the question alone.
        # The space's postings drive the intersection, so other spaces' documents are skipped,
        # never scored (a collector-side filter scores every match first: 7x slower at 100k).
        query = Require(query, allowed)
        # No block-quality skipping or matcher replacement: Whoosh's versions of both lose or
        # crash on Require-under-union (measured: 2 wrong top-50s in 150; an AssertionError).
        collector = collectors.TopCollector(limit, usequality=False, replace=0)
        with self._translated("search"), self._reading() as searcher:
            searcher.search_with_collector(query, collector)
            return [ScoredChunk(_chunk_from(hit.fields()), float(hit.score)) for hit in collector.results()]

    def _query(self, text: str) -> Query | None:
        """An OR of the question's analysed terms. Built from terms, never parsed, so no
        character of the question is query syntax."""
        tuning = self._tuning
        exact = self._analyzer.query_terms(text, tuning.max_query_terms)
        clauses: list[Query] = []
        if tuning.forms != "stemmed" and tuning.exact_weight > 0:
            clauses += [Term("terms_x", t, boost=tuning.exact_weight) for t in exact]
        if tuning.forms != "exact" and tuning.stemmed_weight > 0:
            stems = dict.fromkeys(self._analyzer.stems(exact))
            clauses += [Term("terms_s", s, boost=tuning.stemmed_weight) for s in stems]
        # DefaultOr is Or as a tree of union matchers, which can skip to a document; plain Or
        # picks, on small segments, a matcher that reads and scores every posting up front.
        return DefaultOr(clauses, scale=tuning.coord) if clauses else None

    def _count(self, space_id: str | None) -> int:
        with self._translated("count"), self._reading() as searcher:
            if space_id is None:
                return searcher.doc_count()
            return sum(1 for _ in searcher.docs_for_query(Term("space_id", space_id)))

    def _stats(self) -> dict[str, Any]:
        with self._translated("stats"), self._reading() as searcher:
            docs = searcher.doc_count()
            deleted = searcher.doc_count_all() - docs
            segments = len(searcher.reader().leaf_readers())
            disk = sum(p.stat().st_size for p in self._dir.iterdir() if p.is_file())
        return {"docs": docs, "deleted": deleted, "segments": segments, "disk_bytes": disk}

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Searcher]:
        """The shared searcher, moved to the newest commit (ours or another process's) first."""
        with self._read_lock:
            searcher = self._searcher
            if searcher is None:
                raise IndexUnavailable("The keyword index is not open (start() was not called).")
            if not searcher.up_to_date():
                fresh = self._new_searcher()
                searcher.close()
                self._searcher = searcher = fresh
            yield searcher

    def _new_searcher(self) -> Searcher:
        tuning = self._tuning
        return self._require_ix().searcher(weighting=scoring.BM25F(B=tuning.b, K1=tuning.k1))

    def _require_ix(self) -> whoosh_index.FileIndex:
        if self._ix is None:
            raise IndexUnavailable("The keyword index is not open (start() was not called).")
        return self._ix

    @contextlib.contextmanager
    def _translated(self, action: str) -> Iterator[None]:
        try:
            yield
        except whoosh_index.LockError as e:
            raise IndexUnavailable(
                f"The keyword index at {self._dir} is locked by another writer "
                f"(waited {self._lock_timeout_s:.0f}s); is another ragbot process using this data directory?"
            ) from e
        except (whoosh_index.IndexError, CorruptIndexError, ReaderClosed, OSError) as e:
            raise IndexUnavailable(f"The keyword index at {self._dir} failed to {action}: {e}") from e


def _cancel(writer: IndexWriter) -> None:
    """Give up a writer's changes and its lock, unless a failed commit already closed it."""
    if not getattr(writer, "is_closed", False):
        writer.cancel()


def _tiered_merge(writer: Any, segments: list[Any]) -> list[Any]:
    """Whoosh merge policy (replaces MERGE_SMALL, which at some commit merges every segment:
    a 100k-chunk index stalled one upsert for minutes). Segments are tiered by live size in powers
    of _MERGE_FACTOR; a tier holding _MERGE_FACTOR segments merges its smallest ones as long as
    the result stays within _MERGE_MAX_DOCS. Mostly deleted segments are rewritten. So small
    commits stay cheap, big ones are bounded, and the segment count grows with size / 10k."""
    tiers: dict[int, list[Any]] = defaultdict(list)
    merge: list[Any] = []
    for seg in segments:
        total, live = seg.doc_count_all(), seg.doc_count()
        if total and (total - live) / total >= _MERGE_DELETED_SHARE and live <= _MERGE_MAX_DOCS:
            merge.append(seg)
        else:
            tiers[int(math.log(max(live, 1), _MERGE_FACTOR))].append(seg)
    for tier in tiers.values():
        if len(tier) < _MERGE_FACTOR:
            continue
        tier.sort(key=lambda seg: seg.doc_count())
        group, docs = [], 0
        for seg in tier:
            if docs + seg.doc_count() > _MERGE_MAX_DOCS:
                break
            group.append(seg)
            docs += seg.doc_count()
        if len(group) > 1:
            merge += group
    for seg in merge:
        reader = SegmentReader(writer.storage, writer.schema, seg)
        writer.add_reader(reader)  # copies the live documents into the segment being written
        reader.close()
    merged = {id(seg) for seg in merge}
    return [seg for seg in segments if id(seg) not in merged]


def _weighted(parts: Iterator[tuple[list[str], float]]) -> _Weighted:
    """BM25F's weighted term frequencies over the parts of a chunk."""
    acc: _Weighted = {}
    for terms, weight in parts:
        for term in terms:
            entry = acc.get(term)
            if entry is None:
                acc[term] = [1, weight]
            else:
                entry[0] += 1
                entry[1] += weight
    return acc


def _chunk_from(stored: dict[str, Any]) -> Chunk:
    return Chunk(
        space_id=stored["space_id"],
        doc_id=stored["doc_id"],
        version=stored["version"],
        position=stored["position"],
        title=stored["title"],
        heading_path=tuple(stored["heading_path"]),
        text=stored["text"],
        source=stored["source"],
        doc_type=stored["doc_type"],
        lang=stored["lang"],
        n_tokens=stored["n_tokens"],
    )
