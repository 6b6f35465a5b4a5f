"""KeywordIndex on the embedded Qdrant engine (qdrant-edge), ``KEYWORD_INDEX=qdrant`` without a server.

The same sparse vectors as on a server (``core.backends.sparse_terms``; IDF by the engine over the
space's own points, ``IdfParams(corpus=space filter)``), in an Edge shard of their own,
``<root>/<collection>_keywords``, next to the vector index's ``<root>/<collection>``. Not in the
vector index's shard: that one is rebuilt in a child process and swapped while it serves
(``core.backends.qdrant_edge_index``), and in one process there is no round trip to save by
searching both at once. Sparse vectors need no graph build: the engine's inverted index takes each
write at once, so there is nothing to optimise in the background.

Concurrency: engine calls run in ``asyncio.to_thread``; writes hold one asyncio lock, searches
none (the engine is thread-safe). Another process cannot open the same shard (its WAL is locked),
reported as ``IndexUnavailable``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from qdrant_edge import (
    CountRequest,
    EdgeConfig,
    EdgeShard,
    EdgeSparseVectorParams,
    Filter,
    IdfParams,
    KeywordIndexParams,
    Modifier,
    PayloadSchemaType,
    Point,
    Query,
    QueryRequest,
    SearchParams,
    SparseVector,
    UpdateOperation,
)

from core.backends.qdrant_edge_calls import edge_filter, run_blocking
from core.backends.qdrant_points import (
    KEYWORD_FIELDS,
    TENANT_FIELD,
    chunk_from_payload,
    chunk_payload,
    point_id,
)
from core.backends.sparse_terms import KEYWORD_VECTOR, SparseEncoder
from core.errors import ConfigError, IndexUnavailable
from core.models import Chunk, ScoredChunk, SearchFilters

__all__ = ["QdrantEdgeKeywordIndex"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_BATCH = 256  # points per engine call: each holds the GIL, a few ms at a time
_FLUSH_EVERY_S = 5.0  # as the vector index (and the Qdrant server's flush_interval_sec)


class QdrantEdgeKeywordIndex:
    """The embedded keyword index in ``<root>/<collection>_keywords`` (created if missing)."""

    backend = "qdrant-edge"

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        collection: str = "ragbot_chunks",
        encoder: SparseEncoder | None = None,
    ) -> None:
        if not collection or "/" in collection or collection.startswith("."):
            raise ConfigError(f"{collection!r} is not a usable collection name (it names a directory).")
        self._root = Path(root)
        self._dir = self._root / f"{collection}_keywords"
        self._encoder = encoder or SparseEncoder()
        self._shard: EdgeShard | None = None
        self._write_lock = asyncio.Lock()
        self._flushed_at = time.monotonic()

    @property
    def directory(self) -> Path:
        return self._dir

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        async with self._write_lock:
            if self._shard is None:
                self._shard = await self._blocking("open", self._open)
                log.info("keyword index open backend=qdrant-edge dir=%s", self._dir)

    async def aclose(self) -> None:
        async with self._write_lock:
            shard, self._shard = self._shard, None
            if shard is not None:
                await self._blocking("flush", shard.flush)
                await self._blocking("close", shard.close)

    # -- KeywordIndex ---------------------------------------------------------------------------

    async def upsert(self, chunks: Sequence[Chunk]) -> None:
        if not chunks:
            return
        latest = list({c.chunk_id: c for c in chunks}.values())  # a repeated id: the last wins
        async with self._write_lock:
            shard = self._require()
            for i in range(0, len(latest), _BATCH):
                await self._blocking("store keyword vectors", self._write, shard, latest[i : i + _BATCH])
            await self._after_write(shard)

    async def search(self, text: str, filters: SearchFilters, limit: int) -> list[ScoredChunk]:
        if limit <= 0:
            return []
        terms = self._encoder.query(text)
        if not terms:
            return []
        shard = self._require()
        request = QueryRequest(
            limit=limit,
            query=Query.Nearest(SparseVector(terms.indices, terms.values), using=KEYWORD_VECTOR),
            filter=edge_filter(filters.space_id, doc_type=filters.doc_type),
            # IDF over the space's own points, whatever the doc_type filter (as Whoosh's per space)
            params=SearchParams(idf=IdfParams(corpus=edge_filter(filters.space_id))),
            with_payload=True,
        )
        points = await self._blocking("search", shard.query, request)
        where = str(self._dir)
        return [
            ScoredChunk(chunk_from_payload(p.payload, where=where), float(p.score))
            for p in points
            if p.score > 0
        ]

    async def delete(self, space_id: str, doc_id: str, version: str | None = None) -> None:
        await self._delete_where(edge_filter(space_id, doc_id=doc_id, version=version))

    async def drop_space(self, space_id: str) -> None:
        await self._delete_where(edge_filter(space_id))

    async def count(self, space_id: str | None = None) -> int:
        shard = self._require()
        request = CountRequest(exact=True, filter=edge_filter(space_id) if space_id is not None else None)
        return int(await self._blocking("count points", shard.count, request))

    def describe(self) -> str:
        return f"qdrant-edge sparse vectors in {self._dir}"

    async def stats(self) -> dict[str, Any]:
        shard = self._require()
        info = await self._blocking("read its statistics", shard.info)
        disk = await asyncio.to_thread(_disk_bytes, self._dir)
        return {
            "backend": self.backend,
            "path": str(self._dir),
            "points": info.points_count,
            "disk_bytes": disk,
        }

    # -- internals ------------------------------------------------------------------------------

    def _write(self, shard: EdgeShard, chunks: Sequence[Chunk]) -> None:
        """Analyse and store a batch (in a worker thread: the analysis is the costly part)."""
        points = []
        for chunk in chunks:
            terms = self._encoder.document(chunk)
            vector = {KEYWORD_VECTOR: SparseVector(terms.indices, terms.values)}
            points.append(Point(point_id(chunk), vector, chunk_payload(chunk)))
        shard.update(UpdateOperation.upsert_points(points))

    def _open(self) -> EdgeShard:
        self._root.mkdir(parents=True, exist_ok=True)
        config = EdgeConfig(sparse_vectors={KEYWORD_VECTOR: EdgeSparseVectorParams(modifier=Modifier.Idf)})
        if (self._dir / "edge_config.json").exists() or (self._dir / "segments").is_dir():
            shard = EdgeShard.load(str(self._dir), config)
        else:
            shard = EdgeShard.create(str(self._dir), config)
        present = set(shard.info().payload_schema)
        for field in KEYWORD_FIELDS:
            if field not in present:
                schema = (
                    KeywordIndexParams(is_tenant=True) if field == TENANT_FIELD else PayloadSchemaType.Keyword
                )
                shard.update(UpdateOperation.create_field_index(field, schema))
        shard.flush()
        return shard

    async def _delete_where(self, where: Filter) -> None:
        async with self._write_lock:
            shard = self._require()
            await self._blocking(
                "delete points", shard.update, UpdateOperation.delete_points_by_filter(where)
            )
            await self._after_write(shard)

    async def _after_write(self, shard: EdgeShard) -> None:
        # Writes are durable in the WAL; flushing lets it be truncated (the engine has no timer).
        if time.monotonic() - self._flushed_at >= _FLUSH_EVERY_S:
            await self._blocking("flush", shard.flush)
            self._flushed_at = time.monotonic()

    def _require(self) -> EdgeShard:
        if self._shard is None:
            raise IndexUnavailable(f"The keyword index at {self._dir} is not open (start() was not called).")
        return self._shard

    async def _blocking(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        return await run_blocking("keyword index", self._dir, what, fn, *args)


def _disk_bytes(directory: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(directory):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.stat(os.path.join(dirpath, name)).st_blocks * 512
    return total
