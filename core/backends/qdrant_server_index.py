"""VectorIndex on a Qdrant server (``QDRANT_URL``), through qdrant-client's ``AsyncQdrantClient``.

The collection is created on first start (``core.backends.qdrant_collection``): cosine distance,
HNSW ``m`` / ``ef_construct`` from the settings, the scale-out settings (shards, replication,
write consistency, on-disk storage), keyword payload indexes on ``space_id`` (the tenant key),
``doc_type`` and ``doc_id``. The server indexes in the background by itself; ``ef`` is passed
with every search. Points and payloads are laid out by ``core.backends.qdrant_points``, as in the
embedded backend, so a collection can be moved between the two with a snapshot. An existing
collection with another dimension or distance is refused with ``ConfigError``.

With ``KEYWORD_INDEX=qdrant`` the points also carry the keyword index's sparse vector: this index
then writes and deletes only its own (dense) half of each point (``qdrant_collection``), and
``dense_request`` lets one request search both (``core.backends.qdrant_keywords_server``).

The tests run this class over qdrant-client's local mode (``url=":memory:"``, ``local:DIR`` or
``path=``): the same client API with a pure-Python engine. It ignores payload indexes and ``ef``
(brute force), so those two are only exercised against a real server.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Sequence
from typing import Any

import numpy as np
from qdrant_client import models

from core.backends.qdrant_collection import (
    KEYWORDS,
    LOCAL_MEMORY,
    CollectionSpec,
    QdrantConnection,
    delete_operations,
    upsert_operations,
)
from core.backends.qdrant_points import (
    TENANT_FIELD,
    check_query,
    check_vectors,
    chunk_from_payload,
    chunk_payload,
    point_id,
)
from core.errors import ConfigError, IndexUnavailable
from core.models import Chunk, ScoredChunk, SearchFilters

__all__ = ["QdrantServerIndex", "LOCAL_MEMORY", "space_filter"]

log = logging.getLogger(__name__)

_BATCH = 256  # points per request: well under the server's 32 MB request limit at 384-d + text
_DENSE = ""  # the unnamed vector


class QdrantServerIndex:
    """The collection ``collection`` on the Qdrant server at ``url``.

    ``url=":memory:"``, ``url="local:DIR"`` or ``path=DIR`` run qdrant-client's in-process local
    mode instead (tests, evaluation). ``connection``: the one shared with the keyword index."""

    backend = "qdrant-server"

    def __init__(
        self,
        url: str | None,
        dim: int,
        *,
        api_key: str | None = None,
        collection: str = "ragbot_chunks",
        hnsw_m: int = 16,
        hnsw_ef_construct: int = 100,
        hnsw_ef: int = 128,
        timeout: float = 10.0,
        path: str | os.PathLike[str] | None = None,
        connection: QdrantConnection | None = None,
    ) -> None:
        if dim <= 0:
            raise ConfigError(f"The vector dimension must be positive, not {dim}.")
        self._conn = connection or QdrantConnection(
            url,
            CollectionSpec(dim=dim, hnsw_m=hnsw_m, hnsw_ef_construct=hnsw_ef_construct),
            api_key=api_key,
            collection=collection,
            timeout=timeout,
            path=path,
        )
        self._path = self._conn.path
        self._collection = self._conn.collection
        self.dim = dim
        self._hnsw_ef = hnsw_ef
        self._started = False
        self._where = self._conn.where
        # Points shared with the keyword index: write and delete only the dense half.
        self._others = [KEYWORDS] if self._conn.spec.keywords else []

    @property
    def connection(self) -> QdrantConnection:
        return self._conn

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        client = await self._conn.acquire()
        try:
            await self._check_collection(client)
        except BaseException:
            await self._conn.release()
            raise
        self._started = True
        log.info("vector index open backend=qdrant-server where=%s dim=%d", self._where, self.dim)

    async def aclose(self) -> None:
        if self._started:
            self._started = False
            await self._conn.release()

    # -- VectorIndex ----------------------------------------------------------------------------

    async def upsert(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        arr = check_vectors(chunks, vectors, self.dim, where=self._where)
        client = self._require()
        for i in range(0, len(chunks), _BATCH):
            part, vecs = chunks[i : i + _BATCH], arr[i : i + _BATCH]
            with self._conn.translated("store vectors"):
                if not self._others:
                    points = [
                        models.PointStruct(id=str(point_id(c)), vector=v.tolist(), payload=chunk_payload(c))
                        for c, v in zip(part, vecs, strict=True)
                    ]
                    await client.upsert(self._collection, points=points, wait=True)
                    continue
                ops = upsert_operations(
                    [str(point_id(c)) for c in part],
                    [v.tolist() for v in vecs],
                    [chunk_payload(c) for c in part],
                    _DENSE,
                )
                await client.batch_update_points(self._collection, ops, wait=True)

    def dense_request(self, vector: np.ndarray, filters: SearchFilters, limit: int) -> models.QueryRequest:
        """The search as one request of a batch (``search`` sends it alone)."""
        query = check_query(vector, self.dim, where=self._where)
        return models.QueryRequest(
            query=query.tolist(),
            filter=space_filter(filters.space_id, doc_type=filters.doc_type),
            # ACORN for space AND doc_type: see the measurement in qdrant_edge_index (same engine).
            params=models.SearchParams(
                hnsw_ef=self._hnsw_ef,
                acorn=models.AcornSearchParams(enable=True) if filters.doc_type is not None else None,
            ),
            limit=limit,
            with_payload=True,
        )

    def scored(self, points: Sequence[models.ScoredPoint]) -> list[ScoredChunk]:
        return [ScoredChunk(chunk_from_payload(p.payload, where=self._where), float(p.score)) for p in points]

    async def search(self, vector: np.ndarray, filters: SearchFilters, limit: int) -> list[ScoredChunk]:
        request = self.dense_request(vector, filters, max(limit, 1))
        if limit <= 0:
            return []
        client = self._require()
        with self._conn.translated("search"):
            response = await client.query_points(
                self._collection,
                query=request.query,
                query_filter=request.filter,
                search_params=request.params,
                limit=limit,
                with_payload=True,
            )
        return self.scored(response.points)

    async def delete(self, space_id: str, doc_id: str, version: str | None = None) -> None:
        await self._delete_where(space_filter(space_id, doc_id=doc_id, version=version))

    async def drop_space(self, space_id: str) -> None:
        await self._delete_where(space_filter(space_id))

    async def count(self, space_id: str | None = None) -> int:
        client = self._require()
        must: list[models.Condition] = [models.HasVectorCondition(has_vector=_DENSE)] if self._others else []
        if space_id is not None:
            must.append(models.FieldCondition(key=TENANT_FIELD, match=models.MatchValue(value=space_id)))
        with self._conn.translated("count points"):
            result = await client.count(
                self._collection, count_filter=models.Filter(must=must) if must else None, exact=True
            )
        return int(result.count)

    async def chunks(self, space_id: str, batch: int = 256) -> AsyncIterator[list[Chunk]]:
        """Every chunk of the space that has a vector, in batches (rebuilding the keyword index)."""
        client = self._require()
        where = space_filter(space_id)
        if self._others:
            where = models.Filter(must=[where, models.HasVectorCondition(has_vector=_DENSE)])
        offset: Any = None
        while True:
            with self._conn.translated("read its points"):
                points, offset = await client.scroll(
                    self._collection, scroll_filter=where, limit=batch, offset=offset, with_payload=True
                )
            if points:
                yield [chunk_from_payload(p.payload, where=self._where) for p in points]
            if offset is None:
                return

    async def stats(self) -> dict[str, Any]:
        """What the server reports. Disk use is not in its collection API: ``disk_bytes`` is None."""
        info = await self._conn.info()
        return {
            "backend": "qdrant-server",
            "where": self._where,
            "points": info.points_count or 0,
            "indexed_vectors": info.indexed_vectors_count or 0,
            "segments": info.segments_count,
            "status": str(info.status.value if hasattr(info.status, "value") else info.status),
            "disk_bytes": None,
        }

    # -- internals ------------------------------------------------------------------------------

    async def _check_collection(self, client: Any) -> None:
        info = await self._conn.info()
        self._check_vectors_config(info.config.params.vectors)
        await self._conn.ensure_payload_indexes()

    def _check_vectors_config(self, vectors: Any) -> None:
        if not isinstance(vectors, models.VectorParams):
            raise ConfigError(
                f"The Qdrant collection {self._where} uses named vectors; ragbot needs its own collection "
                "with one unnamed vector. Set QDRANT_COLLECTION to a new name."
            )
        if vectors.size != self.dim:
            raise ConfigError(
                f"The Qdrant collection {self._where} holds {vectors.size}-dimensional vectors, but the "
                f"embedding model makes {self.dim}-dimensional ones. Re-ingest into a new collection "
                "(QDRANT_COLLECTION) or switch the embedding model back."
            )
        if vectors.distance != models.Distance.COSINE:
            raise ConfigError(
                f"The Qdrant collection {self._where} uses {vectors.distance} distance; ragbot needs "
                "Cosine. Set QDRANT_COLLECTION to a new name."
            )

    async def _delete_where(self, where: models.Filter) -> None:
        client = self._require()
        with self._conn.translated("delete points"):
            await client.batch_update_points(
                self._collection, delete_operations(where, _DENSE, self._others), wait=True
            )

    def _require(self) -> Any:
        if not self._started:
            raise IndexUnavailable(f"The vector index {self._where} is not open (start() was not called).")
        return self._conn.client()


def space_filter(
    space_id: str, *, doc_type: str | None = None, doc_id: str | None = None, version: str | None = None
) -> models.Filter:
    must: list[models.Condition] = [
        models.FieldCondition(key="space_id", match=models.MatchValue(value=space_id))
    ]
    for key, value in (("doc_type", doc_type), ("doc_id", doc_id), ("version", version)):
        if value is not None:
            must.append(models.FieldCondition(key=key, match=models.MatchValue(value=value)))
    return models.Filter(must=must)
