"""One space's keyword index: a Whoosh index in its own directory (blocking; callers use threads).

``core.backends.whoosh_index`` keeps one of these per space, so BM25's statistics (document
frequencies, average field lengths) are the space's own. Each chunk is one Whoosh document with
two scored fields: ``terms_x`` holds its exact terms and ``terms_s`` their Snowball stems
(``core.backends.text_analysis``). Within a field, a term's weight is BM25F's weighted
frequency: a title occurrence counts ``title_weight``, a heading ``headings_weight``, a text
occurrence 1 (one saturation over the whole chunk, rather than a sum of per-field BM25s that
saturates each field separately, and a third of the postings to read). A question becomes an OR
of its exact terms (boosted ``exact_weight``) and its stems (boosted ``stemmed_weight``); those
boosts are query-time knobs, so exact-vs-stemmed can be tuned on a live index. ``doc_type`` is an
ID field that a filtered query requires (Whoosh's ``Require``).

Analysis happens here, not in Whoosh: the scored fields take an already analysed term mapping
(``_AnalysedField``), so each text is tokenised once for both forms. Everything that shapes the
postings (analyzer, forms, title and heading weights) is fingerprinted beside the index; when it
changes, opening re-indexes every chunk from its stored fields in one commit.

Concurrency: one writer at a time (the caller's lock in this process, Whoosh's file lock between
processes); reads share one searcher, serialised by a thread lock (Whoosh readers keep per-file
state, and pure-Python search holds the GIL anyway) and refreshed when the index generation moves.
Writes never take that lock, so reads go on during a commit.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
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
from core.models import Chunk, ScoredChunk

__all__ = [
    "COMMIT_SLICE",
    "META_FILE",
    "KeywordTuning",
    "SpaceIndex",
    "chunk_from_stored",
    "has_index",
    "index_schema",
    "question_query",
    "read_meta",
]

log = logging.getLogger(__name__)

# 3: one index per space (space_id only stored); 2 was the shared index with an indexed space_id.
_SCHEMA_VERSION = 3
META_FILE = "ragbot-keyword.json"
_TOC_RE = re.compile(r"_MAIN_[0-9]+\.toc")  # Whoosh's table of contents of the index named MAIN
# Whoosh's posting pool spills to disk past ``limitmb``, and merging spilled runs back costs more
# than the indexing itself (a chunk makes ~100-200 postings): big upserts commit in slices, and
# no automatic merge writes a segment of more than _MERGE_MAX_DOCS (a merge stalls its commit:
# ~1.6 ms of CPU a chunk). ``optimize()`` merges everything into one segment, on request.
COMMIT_SLICE = 5000
_MERGE_MAX_DOCS = 10_000
_MERGE_FACTOR = 8  # segments of one size tier merged together
_MERGE_DELETED_SHARE = 0.3  # a segment this much deleted is rewritten without its dead documents

Forms = Literal["both", "stemmed", "exact"]
_Weighted = dict[str, list[float]]  # term -> [frequency, BM25F weight]
_FormsCache = dict[str, tuple[list[str], list[str]]]


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


def index_schema() -> Schema:
    """The schema of a space's index. Also the one given to Whoosh when opening any index of
    ours (a space's, or the old shared one being migrated), so opening never unpickles a schema."""
    return Schema(
        chunk_id=ID(stored=True, unique=True),
        space_id=STORED(),  # one value per index: stored to rebuild the chunk, never searched
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


def has_index(directory: Path) -> bool:
    """Whether ``directory`` holds a Whoosh index: a table-of-contents file. (Whoosh's own
    ``exists_in`` unpickles the stored schema, which can name classes that have since moved.)"""
    try:
        return any(_TOC_RE.fullmatch(name) for name in os.listdir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return False


def read_meta(directory: Path) -> dict[str, Any] | None:
    """The fingerprint file of the index in ``directory`` (None: missing or unreadable)."""
    try:
        meta = json.loads((directory / META_FILE).read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


class SpaceIndex:
    """The Whoosh index of one space in ``directory``. Nothing happens on disk until the first
    ``open``; a space without an index reads as empty. Blocking: run each call in a thread."""

    def __init__(
        self,
        directory: Path,
        space_id: str,
        *,
        tuning: KeywordTuning,
        analyzer: TermAnalyzer,
        lock_timeout_s: float,
        writer_limitmb: int,
    ) -> None:
        self.directory = directory
        self.space_id = space_id
        self._tuning = tuning
        self._analyzer = analyzer
        self._lock_timeout_s = lock_timeout_s
        self._writer_limitmb = writer_limitmb
        self._ix: whoosh_index.FileIndex | None = None
        self._searcher: Searcher | None = None
        self._retired = False
        # Guards _ix and _searcher: opening (and re-indexing), closing, and every read.
        self._lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def shape(self) -> dict[str, Any]:
        """What the postings depend on; written beside the index, compared when opening."""
        return {
            "schema": _SCHEMA_VERSION,
            "analysis": self._analyzer.fingerprint,
            **self._tuning.index_shape(),
        }

    def is_stale(self) -> bool:
        """True when an index exists here but was built with another analysis (or no record of it)."""
        if not has_index(self.directory):
            return False
        meta = read_meta(self.directory) or {}
        return {key: meta.get(key) for key in self.shape} != self.shape

    def open(self, *, create: bool) -> bool:
        """Open the index (creating it if asked), re-indexing it first when its analysis changed.
        False when there is no index and ``create`` is not set, or the space was dropped."""
        with self._lock, self._translated("open"):
            return self._open_locked(create=create) is not None

    def close(self) -> None:
        with self._lock:
            self._close_locked()

    def retire(self) -> None:
        """Close for good (the space is being dropped): later reads find nothing, writes refuse."""
        with self._lock:
            self._close_locked()
            self._retired = True

    @property
    def retired(self) -> bool:
        return self._retired

    def release_searcher(self) -> None:
        """Close the reader's files (about 4 per segment); the next read reopens them."""
        with self._lock:
            if self._searcher is not None:
                self._searcher.close()
                self._searcher = None

    def _open_locked(self, *, create: bool) -> whoosh_index.FileIndex | None:
        if self._ix is not None:
            return self._ix
        if self._retired:
            return None
        path = str(self.directory)
        schema = index_schema()
        if has_index(self.directory):
            # Our schema, not the pickled one: opening never depends on unpickling it.
            ix = whoosh_index.open_dir(path, schema=schema)
            shape = self.shape
            if {key: (read_meta(self.directory) or {}).get(key) for key in shape} != shape:
                self._reindex(ix)
                self._write_meta()
        elif create:
            self.directory.mkdir(parents=True, exist_ok=True)
            ix = whoosh_index.create_in(path, schema)
            self._write_meta()
            log.info("keyword index created space=%s dir=%s", self.space_id, self.directory)
        else:
            return None
        self._ix = ix
        return ix

    def _close_locked(self) -> None:
        if self._searcher is not None:
            self._searcher.close()
        self._searcher = None
        if self._ix is not None:
            self._ix.close()
        self._ix = None

    def _write_meta(self) -> None:
        meta = {**self.shape, "space_id": self.space_id}
        tmp = self.directory / f"{META_FILE}.tmp"
        tmp.write_text(json.dumps(meta))
        tmp.replace(self.directory / META_FILE)

    def _reindex(self, ix: whoosh_index.FileIndex) -> None:
        """Rewrite every chunk with the current analysis, from its stored fields, in one commit
        (readers see the old index until then; a crash before it leaves the old index whole)."""
        if ix.is_empty():
            return
        log.warning(
            "keyword index analysis changed: re-indexing space=%s dir=%s", self.space_id, self.directory
        )
        with ix.searcher() as searcher:
            writer = self._writer(ix)
            try:
                cache: _FormsCache = {}
                for stored in searcher.all_stored_fields():
                    writer.add_document(**self._document(chunk_from_stored(stored), cache))
                writer.commit(mergetype=CLEAR)  # the new segment replaces all the old ones
            except KeyError as e:
                _cancel(writer)
                raise IndexUnavailable(
                    f"The keyword index at {self.directory} lacks stored field {e}; delete it and re-ingest."
                ) from e
            except BaseException:
                _cancel(writer)
                raise

    # -- writing (the caller holds this space's write lock) -------------------------------------

    def _writer(self, ix: whoosh_index.FileIndex) -> IndexWriter:
        # Not compound: Whoosh opens each part of a compound segment by copying it out of the mmap
        # into memory, so readers cost as much RAM as the index (100k chunks, 300 questions: RSS
        # 430 MB vs 34 MB) and every reopen after a commit copies again (per-document upsert CPU
        # p50 99 ms vs 24 ms). The price: reads are file reads, search CPU +20%.
        return ix.writer(timeout=self._lock_timeout_s, limitmb=self._writer_limitmb, compound=False)

    def _writable(self) -> whoosh_index.FileIndex:
        with self._lock:
            ix = self._open_locked(create=True)
        if ix is None:
            raise IndexUnavailable(f"The keyword index of space {self.space_id!r} was dropped.")
        return ix

    def upsert(self, chunks: Sequence[Chunk]) -> None:
        """Add or replace (by chunk id) chunks of this space, committing every COMMIT_SLICE."""
        latest = list({c.chunk_id: c for c in chunks}.values())  # a repeated id: the last wins
        cache: _FormsCache = {}
        with self._translated("write"):
            ix = self._writable()
            for start in range(0, len(latest), COMMIT_SLICE):
                self._commit_slice(ix, latest[start : start + COMMIT_SLICE], cache)
        log.debug("keyword index upsert space=%s chunks=%d", self.space_id, len(latest))

    def _commit_slice(self, ix: whoosh_index.FileIndex, chunks: list[Chunk], cache: _FormsCache) -> None:
        fresh = ix.is_empty()
        writer = self._writer(ix)
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

    def delete(self, doc_id: str, version: str | None = None) -> int:
        """Delete a document's chunks (one version's, or all); the number deleted."""
        query: Query = Term("doc_id", doc_id)
        if version is not None:
            query = And([query, Term("version", version)])
        with self._translated("delete"):
            with self._lock:
                ix = self._open_locked(create=False)
            if ix is None:
                return 0
            writer = self._writer(ix)
            try:
                deleted = writer.delete_by_query(query)
                if deleted:
                    writer.commit(mergetype=_tiered_merge)
                else:
                    writer.cancel()
            except BaseException:
                _cancel(writer)
                raise
        log.debug("keyword index delete space=%s query=%s deleted=%d", self.space_id, query, deleted)
        return deleted

    def optimize(self) -> None:
        with self._translated("optimize"):
            with self._lock:
                ix = self._open_locked(create=False)
            if ix is None:
                return
            writer = self._writer(ix)
            try:
                writer.commit(optimize=True)
            except BaseException:
                _cancel(writer)
                raise

    def _document(self, chunk: Chunk, cache: _FormsCache) -> dict[str, Any]:
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

    def _analysed(self, text: str, cache: _FormsCache | None) -> tuple[list[str], list[str]]:
        """(exact terms, stems). Titles and heading paths repeat across a document's chunks, so
        they are analysed once per batch."""
        forms = cache.get(text) if cache is not None else None
        if forms is None:
            exact = self._analyzer.terms(text)
            forms = (exact, self._analyzer.stems(exact))
            if cache is not None:
                cache[text] = forms
        return forms

    # -- reading --------------------------------------------------------------------------------

    def search(self, query: Query, doc_type: str | None, limit: int) -> list[ScoredChunk]:
        """The top ``limit`` chunks for ``query`` (from ``question_query``), of one doc_type if given."""
        if doc_type is not None:
            # Require: documents of that type that match the question, scored by the question
            # alone; the type's postings drive the intersection, so others are skipped, not scored.
            query = Require(query, Term("doc_type", doc_type))
        # No block-quality skipping or matcher replacement: Whoosh's versions of both lose or
        # crash on Require-under-union (measured: 2 wrong top-50s in 150; an AssertionError).
        collector = collectors.TopCollector(limit, usequality=False, replace=0)
        with self._translated("search"), self._reading() as searcher:
            if searcher is None:
                return []
            searcher.search_with_collector(query, collector)
            return [
                ScoredChunk(chunk_from_stored(hit.fields()), float(hit.score)) for hit in collector.results()
            ]

    def count(self) -> int:
        """Live chunks, from the latest commit's table of contents (no reader is opened)."""
        with self._translated("count"):
            with self._lock:
                ix = self._open_locked(create=False)
            return ix.doc_count() if ix is not None else 0

    def stats(self) -> dict[str, int]:
        """Live chunks, chunks deleted but not yet merged away, segments, bytes on disk."""
        with self._translated("stats"):
            with self._lock:
                ix = self._open_locked(create=False)
            if ix is None:
                return {"docs": 0, "deleted": 0, "segments": 0, "disk_bytes": 0}
            segments = ix._segments()  # the table of contents: no reader files are opened
            docs = sum(seg.doc_count() for seg in segments)
            deleted = sum(seg.doc_count_all() for seg in segments) - docs
            disk = sum(p.stat().st_size for p in self.directory.iterdir() if p.is_file())
        return {"docs": docs, "deleted": deleted, "segments": len(segments), "disk_bytes": disk}

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Searcher | None]:
        """The shared searcher, moved to the newest commit (ours or another process's) first;
        None when the space has no index."""
        with self._lock:
            searcher = self._searcher
            if searcher is None:
                ix = self._open_locked(create=False)
                if ix is None:
                    yield None
                    return
                self._searcher = searcher = self._new_searcher(ix)
            elif not searcher.up_to_date():
                fresh = self._new_searcher(self._ix)
                searcher.close()
                self._searcher = searcher = fresh
            yield searcher

    def _new_searcher(self, ix: whoosh_index.FileIndex | None) -> Searcher:
        assert ix is not None  # a searcher exists only while the index is open
        tuning = self._tuning
        return ix.searcher(weighting=scoring.BM25F(B=tuning.b, K1=tuning.k1))

    @contextlib.contextmanager
    def _translated(self, action: str) -> Iterator[None]:
        try:
            yield
        except whoosh_index.LockError as e:
            raise IndexUnavailable(
                f"The keyword index at {self.directory} is locked by another writer "
                f"(waited {self._lock_timeout_s:.0f}s); is another ragbot process using this data directory?"
            ) from e
        except (whoosh_index.IndexError, CorruptIndexError, ReaderClosed, OSError) as e:
            raise IndexUnavailable(f"The keyword index at {self.directory} failed to {action}: {e}") from e


def question_query(text: str, tuning: KeywordTuning, analyzer: TermAnalyzer) -> Query | None:
    """An OR of the question's analysed terms (None: nothing to search for). Built from terms,
    never parsed, so no character of the question is query syntax."""
    exact = analyzer.query_terms(text, tuning.max_query_terms)
    clauses: list[Query] = []
    if tuning.forms != "stemmed" and tuning.exact_weight > 0:
        clauses += [Term("terms_x", t, boost=tuning.exact_weight) for t in exact]
    if tuning.forms != "exact" and tuning.stemmed_weight > 0:
        stems = dict.fromkeys(analyzer.stems(exact))
        clauses += [Term("terms_s", s, boost=tuning.stemmed_weight) for s in stems]
    # DefaultOr is Or as a tree of union matchers, which can skip to a document; plain Or
    # picks, on small segments, a matcher that reads and scores every posting up front.
    return DefaultOr(clauses, scale=tuning.coord) if clauses else None


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


def _weighted(parts: Iterable[tuple[list[str], float]]) -> _Weighted:
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


def chunk_from_stored(stored: dict[str, Any]) -> Chunk:
    """The chunk a Whoosh document stores (KeyError: a field is missing)."""
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
