"""VectorIndex on the embedded Qdrant engine (qdrant-edge): the default, no server to run.

Storage: one Edge shard per collection, in ``<root>/<collection>`` (``root`` is ``DATA_DIR/qdrant``).
Cosine distance; HNSW ``m`` / ``ef_construct`` at build time and ``ef`` at search time; keyword
payload indexes on ``space_id`` (the tenant key), ``doc_type`` and ``doc_id``, created with the
shard so that the HNSW graph gets its per-value links from the first build. Points and payloads
are laid out by ``core.backends.qdrant_points``, shared with the server backend. The dimension is
fixed when the shard is created; opening it with another one raises ``ConfigError``.

Indexing: the embedded engine has no background optimizer. New points land in an appendable,
unindexed segment, searched by brute force (cheap while a space is small, since the keyword index
on ``space_id`` picks the candidates first). Once the unindexed points pass Qdrant's indexing
threshold, ``optimize()`` turns them into HNSW-indexed segments; without it a large space would be
scanned point by point forever. That call holds the GIL for its whole run (1-2.5 min at 100k vectors
on 2 cores), so it runs in a child process on a copy of the shard (``core.backends.qdrant_edge_optimize``)
and the copy is then swapped in. Writes start it in the background once the threshold is crossed and
the writes have paused for ``optimize_after_quiet_s`` (a bulk ingest pays for one build, at its end).

Concurrency: the engine calls block and run in ``asyncio.to_thread``. Writes (and the optimise and
swap) hold one asyncio lock; searches take no lock and run beside writes (the engine is
thread-safe). Only the swap (about a second at 100k points) and ``aclose()`` make searches wait,
through a gate that lets the searches in flight finish first. Another process cannot open the same
shard (its WAL is locked): that is reported as ``IndexUnavailable``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from qdrant_edge import (
    AcornSearchParams,
    CountRequest,
    Distance,
    EdgeConfig,
    EdgeOptimizersConfig,
    EdgeShard,
    EdgeVectorParams,
    Filter,
    HnswIndexConfig,
    KeywordIndexParams,
    PayloadSchemaType,
    Point,
    Query,
    QueryRequest,
    ScrollRequest,
    SearchParams,
    UpdateOperation,
)

from core.backends.qdrant_edge_calls import edge_filter, run_blocking
from core.backends.qdrant_edge_optimize import copy_shard, optimize_in_child
from core.backends.qdrant_points import (
    KEYWORD_FIELDS,
    TENANT_FIELD,
    check_query,
    check_vectors,
    chunk_from_payload,
    chunk_payload,
    point_id,
)
from core.errors import ConfigError, CoreError, IndexUnavailable
from core.models import Chunk, ScoredChunk, SearchFilters

__all__ = ["QdrantEdgeIndex", "DEFAULT_INDEXING_THRESHOLD_KB"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# Qdrant's defaults, set explicitly so that the numbers this module reasons with are the engine's.
# Below full_scan_threshold (KB of vectors matching a filter) a filtered search scores the payload
# index's candidates exactly instead of walking the graph; past indexing_threshold (KB of vectors
# in a segment) optimize() builds an HNSW index for the segment.
_FULL_SCAN_THRESHOLD_KB = 10_000
DEFAULT_INDEXING_THRESHOLD_KB = 10_000

# The HNSW graph gets extra links inside each value of an indexed field (one space, one doc type),
# which keeps a single-field filter's subgraph connected; nothing links inside "this space AND this
# doc type", and there the graph falls apart: recall@10 was 0.62 at ef=128 (0.80 at ef=512) for a
# 17.5k-point space+type subset of 100k. ACORN (neighbours of neighbours, only when the filter keeps
# under 40% of the points) brought it to 0.996 at a few ms. Space-only searches do not need it.
_ACORN = AcornSearchParams(enable=True)

# Points per engine call: each call holds the GIL, so a few milliseconds at a time keeps the event
# loop (and the searches waiting on it) moving during a large upsert.
_BATCH = 256
_FLUSH_EVERY_S = 5.0  # the Qdrant server's flush_interval_sec


class QdrantEdgeIndex:
    """The embedded vector index in ``<root>/<collection>`` (created if missing, reopened if present)."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        dim: int,
        *,
        collection: str = "ragbot_chunks",
        hnsw_m: int = 16,
        hnsw_ef_construct: int = 100,
        hnsw_ef: int = 128,
        indexing_threshold_kb: int = DEFAULT_INDEXING_THRESHOLD_KB,
        auto_optimize: bool = True,
        optimize_after_quiet_s: float = 30.0,
    ) -> None:
        if dim <= 0:
            raise ConfigError(f"The vector dimension must be positive, not {dim}.")
        if not collection or "/" in collection or collection.startswith("."):
            raise ConfigError(f"{collection!r} is not a usable collection name (it names a directory).")
        self._root = Path(root)
        self._dir = self._root / collection
        self._work = self._root / f".{collection}.optimizing"
        self._replaced = self._root / f".{collection}.replaced"
        self.dim = dim
        self._hnsw_m = hnsw_m
        self._hnsw_ef_construct = hnsw_ef_construct
        self._hnsw_ef = hnsw_ef
        self._indexing_threshold_kb = indexing_threshold_kb
        # The unindexed points worth an optimise: the indexing threshold in vectors of this size.
        self._index_after_points = max(1, indexing_threshold_kb * 1024 // (dim * 4))
        self._auto_optimize = auto_optimize
        self._optimize_after_quiet_s = optimize_after_quiet_s
        self._shard: EdgeShard | None = None
        self._write_lock = asyncio.Lock()
        self._readers = 0
        self._no_readers = asyncio.Event()
        self._no_readers.set()
        self._reads_open = asyncio.Event()  # cleared only while a swap replaces the shard
        self._reads_open.set()
        self._optimizer: asyncio.Task[None] | None = None
        self._child: asyncio.Task[dict[str, Any]] | None = None
        self._unindexed_floor = 0  # unindexed points the last optimise left (or failed on)
        self._closing = False
        self._flushed_at = time.monotonic()
        self._last_write = 0.0
        self._optimize_busy = False  # the background optimiser holds the write lock and has begun

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        async with self._write_lock:
            if self._shard is not None:
                return
            self._closing = False
            self._shard = await self._blocking("open", self._open)
            info = await self._blocking("read its statistics", self._shard.info)
            log.info(
                "vector index open backend=qdrant-edge dir=%s dim=%d points=%d indexed=%d segments=%d",
                self._dir,
                self.dim,
                info.points_count,
                info.indexed_vectors_count,
                info.segments_count,
            )
            self._maybe_schedule_optimize(info.points_count - info.indexed_vectors_count)

    async def aclose(self) -> None:
        """Stop a running optimise (its child is killed, the copy dropped), flush and close."""
        self._closing = True
        task = self._optimizer
        if task is not None:
            if self._child is not None and not self._child.done():
                self._child.cancel()  # the optimiser then returns without swapping
            elif not self._optimize_busy:
                task.cancel()  # still waiting for quiet or for the lock: nothing started yet
            await asyncio.gather(task, return_exceptions=True)
            self._optimizer = None
        async with self._write_lock:
            self._reads_open.clear()  # let the searches in flight finish on an open shard
            try:
                await self._no_readers.wait()
                shard, self._shard = self._shard, None
                if shard is not None:
                    await self._blocking("flush", shard.flush)
                    await self._blocking("close", shard.close)
            finally:
                self._reads_open.set()  # later reads fail at once: "not open"

    # -- VectorIndex ----------------------------------------------------------------------------

    async def upsert(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        arr = check_vectors(chunks, vectors, self.dim, where=str(self._dir))
        if not chunks:
            return
        async with self._write_lock:
            shard = self._require()
            for i in range(0, len(chunks), _BATCH):
                await self._blocking(
                    "store vectors", _upsert_batch, shard, chunks[i : i + _BATCH], arr[i : i + _BATCH]
                )
            await self._after_write(shard)

    async def search(self, vector: np.ndarray, filters: SearchFilters, limit: int) -> list[ScoredChunk]:
        query = check_query(vector, self.dim, where=str(self._dir))
        if limit <= 0:
            return []
        request = QueryRequest(
            limit=limit,
            query=Query.Nearest(query),
            filter=edge_filter(filters.space_id, doc_type=filters.doc_type),
            with_payload=True,
            params=SearchParams(
                hnsw_ef=self._hnsw_ef, acorn=_ACORN if filters.doc_type is not None else None
            ),
        )
        async with self._reading() as shard:
            points = await self._blocking("search", shard.query, request)
        where = str(self._dir)
        return [ScoredChunk(chunk_from_payload(p.payload, where=where), float(p.score)) for p in points]

    async def delete(self, space_id: str, doc_id: str, version: str | None = None) -> None:
        await self._delete_where(edge_filter(space_id, doc_id=doc_id, version=version))

    async def drop_space(self, space_id: str) -> None:
        await self._delete_where(edge_filter(space_id))

    async def count(self, space_id: str | None = None) -> int:
        request = CountRequest(exact=True, filter=edge_filter(space_id) if space_id is not None else None)
        async with self._reading() as shard:
            return int(await self._blocking("count points", shard.count, request))

    async def chunks(self, space_id: str, batch: int = 256) -> AsyncIterator[list[Chunk]]:
        offset: Any = None
        where = str(self._dir)
        while True:
            request = ScrollRequest(
                offset=offset, limit=batch, filter=edge_filter(space_id), with_payload=True
            )
            async with self._reading() as shard:
                points, offset = await self._blocking("read its points", shard.scroll, request)
            if points:
                yield [chunk_from_payload(p.payload, where=where) for p in points]
            if offset is None:
                return

    # -- beyond the port: maintenance and measurement ----------------------------------------------

    async def optimize(self) -> bool:
        """Build the HNSW index for whatever is unindexed now (waits for writes; searches go on).
        True when the engine changed anything. Writes schedule this on their own; call it after a
        bulk load to have the index complete before measuring."""
        async with self._write_lock:
            self._require()
            return await self._optimize_locked()

    async def settle(self) -> None:
        """Wait for an optimise that writes started in the background, including its wait for the
        writes to pause (for tests and benchmarks)."""
        if self._optimizer is not None:
            await asyncio.gather(self._optimizer, return_exceptions=True)

    async def stats(self) -> dict[str, Any]:
        async with self._reading() as shard:
            info = await self._blocking("read its statistics", shard.info)
            disk = await asyncio.to_thread(_disk_bytes, self._dir)
        return {
            "backend": "qdrant-edge",
            "path": str(self._dir),
            "points": info.points_count,
            "indexed_vectors": info.indexed_vectors_count,
            "segments": info.segments_count,
            "disk_bytes": disk,
            "optimizing": self._optimizer is not None and not self._optimizer.done(),
        }

    # -- opening --------------------------------------------------------------------------------

    def _config(self) -> EdgeConfig:
        return EdgeConfig(
            vectors=EdgeVectorParams(size=self.dim, distance=Distance.Cosine),
            hnsw_config=HnswIndexConfig(
                m=self._hnsw_m,
                ef_construct=self._hnsw_ef_construct,
                full_scan_threshold=_FULL_SCAN_THRESHOLD_KB,
            ),
            optimizers=EdgeOptimizersConfig(indexing_threshold=self._indexing_threshold_kb),
        )

    def _open(self) -> EdgeShard:
        self._root.mkdir(parents=True, exist_ok=True)
        self._recover_interrupted_swap()
        config = self._config()
        if (self._dir / "edge_config.json").exists() or (self._dir / "segments").is_dir():
            self._check_stored_dim()
            try:
                shard = EdgeShard.load(str(self._dir), config)
            except Exception as e:
                if "ncompatible" in str(e):
                    raise ConfigError(
                        f"The vector index at {self._dir} was built with other vector settings "
                        f"({e}). Re-ingest into a new collection (QDRANT_COLLECTION)."
                    ) from e
                raise
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

    def _check_stored_dim(self) -> None:
        try:
            stored = json.loads((self._dir / "edge_config.json").read_text())["vectors"][""]["size"]
        except (OSError, ValueError, KeyError, TypeError):
            return  # no readable config: the engine's own compatibility check decides
        if stored != self.dim:
            raise ConfigError(
                f"The vector index at {self._dir} holds {stored}-dimensional vectors, but the embedding "
                f"model makes {self.dim}-dimensional ones. Re-ingest into a new collection "
                "(QDRANT_COLLECTION) or switch the embedding model back."
            )

    def _recover_interrupted_swap(self) -> None:
        """Undo what a process killed during an optimise left behind. The live shard is never
        written by the optimiser, so the worst case is losing the optimisation, never data."""
        if self._work.exists():
            shutil.rmtree(self._work)
        if self._replaced.exists():
            if self._dir.exists():
                shutil.rmtree(self._replaced)  # the swap finished; only the cleanup was missed
            else:
                self._replaced.rename(self._dir)  # killed between the two renames: the old shard back

    # -- writing --------------------------------------------------------------------------------

    async def _delete_where(self, where: Filter) -> None:
        async with self._write_lock:
            shard = self._require()
            await self._blocking(
                "delete points", shard.update, UpdateOperation.delete_points_by_filter(where)
            )
            await self._after_write(shard)

    async def _after_write(self, shard: EdgeShard) -> None:
        # Writes are durable once in the WAL; flushing segments lets the WAL be truncated, so that it
        # stays short and a restart replays little. The embedded engine never flushes on a timer, so
        # writes do, at most every few seconds as the Qdrant server does (a flush after a 256-point
        # batch of 384-d vectors costs 10-30 ms, about as much as the batch itself).
        if time.monotonic() - self._flushed_at >= _FLUSH_EVERY_S:
            await self._blocking("flush", shard.flush)
            self._flushed_at = time.monotonic()
        self._last_write = time.monotonic()
        if self._auto_optimize:
            info = await self._blocking("read its statistics", shard.info)
            self._maybe_schedule_optimize(info.points_count - info.indexed_vectors_count)

    def _maybe_schedule_optimize(self, unindexed: int) -> None:
        if not self._auto_optimize or self._closing:
            return
        if self._optimizer is not None and not self._optimizer.done():
            return
        if unindexed - self._unindexed_floor >= self._index_after_points:
            self._optimizer = asyncio.create_task(self._background_optimize(), name="qdrant-edge-optimize")

    async def _background_optimize(self) -> None:
        # Wait for the writes to pause: a bulk ingest then pays for one optimise at its end, instead
        # of one per threshold's worth of points, each rebuilding a larger merged segment (and each
        # making the next upsert wait). Until then new points are searched by brute force.
        while (wait := self._last_write + self._optimize_after_quiet_s - time.monotonic()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait)  # a deadline that writes push back, not a condition to poll
        try:
            async with self._write_lock:
                if self._shard is None or self._closing:
                    return
                self._optimize_busy = True  # from here aclose() waits instead of cancelling
                info = await self._blocking("read its statistics", self._shard.info)
                if (
                    info.points_count - info.indexed_vectors_count - self._unindexed_floor
                    < self._index_after_points
                ):
                    return  # deletes since then took the need away
                await self._optimize_locked()
        except CoreError as e:
            log.error("vector index optimise failed dir=%s error=%s", self._dir, e.message)
        except Exception:
            log.exception("vector index optimise failed dir=%s", self._dir)
        finally:
            self._optimize_busy = False

    async def _optimize_locked(self) -> bool:
        shard = self._require()
        info = await self._blocking("read its statistics", shard.info)
        # Until this run succeeds, wait for another threshold's worth before trying again.
        self._unindexed_floor = max(0, info.points_count - info.indexed_vectors_count)
        t0 = time.perf_counter()
        try:
            await self._blocking("flush", shard.flush)
            await self._blocking("copy itself for indexing", self._fresh_copy)
            if self._closing:
                return False
            t1 = time.perf_counter()
            self._child = asyncio.create_task(optimize_in_child(self._work))
            try:
                report = await self._child
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if self._closing and task is not None and not task.cancelling():
                    return False  # aclose() stopped the child; the live shard is untouched
                raise
            finally:
                self._child = None
            if not report.get("optimized") or self._closing:
                self._unindexed_floor = max(0, int(report.get("points", 0)) - int(report.get("indexed", 0)))
                return False
            t2 = time.perf_counter()
            await self._swap_in()
            t3 = time.perf_counter()
        finally:
            await asyncio.to_thread(shutil.rmtree, self._work, True)
        self._unindexed_floor = max(0, int(report["points"]) - int(report["indexed"]))
        log.info(
            "vector index optimised dir=%s points=%s indexed=%s segments=%s copy_s=%.1f index_s=%.1f swap_s=%.2f",
            self._dir,
            report["points"],
            report["indexed"],
            report["segments"],
            t1 - t0,
            t2 - t1,
            t3 - t2,
        )
        return True

    def _fresh_copy(self) -> None:
        if self._work.exists():
            shutil.rmtree(self._work)
        copy_shard(self._dir, self._work)

    async def _swap_in(self) -> None:
        """Replace the live shard with the optimised copy. Searches wait at the gate meanwhile."""
        self._reads_open.clear()
        try:
            await self._no_readers.wait()
            old, self._shard = self._shard, None
            if old is not None:
                await self._blocking("close", old.close)
            self._shard = await self._blocking("open the optimised copy", self._replace_and_load)
        finally:
            self._reads_open.set()
        await asyncio.to_thread(shutil.rmtree, self._replaced, True)

    def _replace_and_load(self) -> EdgeShard:
        self._dir.rename(self._replaced)
        self._work.rename(self._dir)
        try:
            return EdgeShard.load(str(self._dir), self._config())
        except Exception:
            log.exception("optimised copy does not open; keeping the old shard dir=%s", self._dir)
            self._dir.rename(self._work)  # removed by the caller
            self._replaced.rename(self._dir)
            return EdgeShard.load(str(self._dir), self._config())

    # -- helpers --------------------------------------------------------------------------------

    def _require(self) -> EdgeShard:
        if self._shard is None:
            raise IndexUnavailable(f"The vector index at {self._dir} is not open (start() was not called).")
        return self._shard

    @contextlib.asynccontextmanager
    async def _reading(self) -> AsyncIterator[EdgeShard]:
        await self._reads_open.wait()
        shard = self._require()
        self._readers += 1
        self._no_readers.clear()
        try:
            yield shard
        finally:
            self._readers -= 1
            if self._readers == 0:
                self._no_readers.set()

    async def _blocking(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        return await run_blocking("vector index", self._dir, what, fn, *args)


def _upsert_batch(shard: EdgeShard, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
    points = [Point(point_id(c), v, chunk_payload(c)) for c, v in zip(chunks, vectors, strict=True)]
    shard.update(UpdateOperation.upsert_points(points))


def _disk_bytes(directory: Path) -> int:
    """Bytes allocated on disk (not apparent sizes: mmap'd files are sparse until written)."""
    total = 0
    for dirpath, _dirs, files in os.walk(directory):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.stat(os.path.join(dirpath, name)).st_blocks * 512
    return total
