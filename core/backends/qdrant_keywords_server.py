"""KeywordIndex inside the Qdrant server collection (``KEYWORD_INDEX=qdrant`` with ``QDRANT_URL``).

Each chunk's point carries, beside the dense vector, the named sparse vector ``keywords``
(``core.backends.sparse_terms``: ragbot's own analysis, BM25 saturation and length normalisation
on the client). The collection's sparse vector has ``Modifier.IDF``: Qdrant multiplies the
question's weights by the IDF it computes over the **space's own points** (``IdfCorpusParams``
with the space filter), so, as with one Whoosh index per space, no other space's statistics move
a space's ranking. Search filters: the mandatory ``space_id`` and the optional ``doc_type``.

This index writes only the sparse half of a point (``core.backends.qdrant_collection``): the
vector index's half survives its upserts and deletes, and the other way round. With no local file
at all, every replica of the bot can serve from the one collection (docs/deployment.md).

``QdrantJointSearch`` sends a question's dense and sparse searches as one ``query_batch_points``
request (one round trip to the server), and ragbot fuses the two ranked lists as usual.

An existing collection without the sparse vector gets it at ``start()`` (``create_vector_name``);
its chunks are then keyword-searchable after ``ragbot reindex --keywords``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from qdrant_client import models

from core.backends.qdrant_collection import (
    KEYWORDS,
    QdrantConnection,
    delete_operations,
    sparse_params,
    upsert_operations,
)
from core.backends.qdrant_points import TENANT_FIELD, chunk_from_payload, chunk_payload, point_id
from core.backends.qdrant_server_index import QdrantServerIndex, space_filter
from core.backends.sparse_terms import SparseEncoder
from core.errors import ConfigError, IndexUnavailable
from core.models import Chunk, ScoredChunk, SearchFilters

__all__ = ["QdrantServerKeywordIndex", "QdrantJointSearch"]

log = logging.getLogger(__name__)

_BATCH = 256
_DENSE = ""


class QdrantServerKeywordIndex:
    """The keyword half of the points of ``connection``'s collection."""

    backend = "qdrant-server"

    def __init__(self, connection: QdrantConnection, *, encoder: SparseEncoder | None = None) -> None:
        self._conn = connection
        self._encoder = encoder or SparseEncoder()
        self._collection = connection.collection
        self._where = connection.where
        self._started = False

    @property
    def connection(self) -> QdrantConnection:
        return self._conn

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        client = await self._conn.acquire()
        try:
            await self._prepare(client)
        except BaseException:
            await self._conn.release()
            raise
        self._started = True
        log.info("keyword index open backend=qdrant-server where=%s", self._where)

    async def aclose(self) -> None:
        if self._started:
            self._started = False
            await self._conn.release()

    # -- KeywordIndex ---------------------------------------------------------------------------

    async def upsert(self, chunks: Sequence[Chunk]) -> None:
        if not chunks:
            return
        client = self._require()
        latest = list({c.chunk_id: c for c in chunks}.values())  # a repeated id: the last wins
        for i in range(0, len(latest), _BATCH):
            part = latest[i : i + _BATCH]
            ops = await asyncio.to_thread(self._operations, part)  # the analysis is the costly part
            with self._conn.translated("store keyword vectors"):
                await client.batch_update_points(self._collection, ops, wait=True)

    def _operations(self, chunks: Sequence[Chunk]) -> list[models.UpdateOperation]:
        vectors = []
        for chunk in chunks:
            terms = self._encoder.document(chunk)
            vectors.append(models.SparseVector(indices=terms.indices, values=terms.values))
        return upsert_operations(
            [str(point_id(c)) for c in chunks], vectors, [chunk_payload(c) for c in chunks], KEYWORDS
        )

    def sparse_request(self, text: str, filters: SearchFilters, limit: int) -> models.QueryRequest | None:
        """The search as one request of a batch; None when the question has no searchable term."""
        terms = self._encoder.query(text)
        if not terms:
            return None
        return models.QueryRequest(
            query=models.SparseVector(indices=terms.indices, values=terms.values),
            using=KEYWORDS,
            filter=space_filter(filters.space_id, doc_type=filters.doc_type),
            # IDF over the space's points (not over the doc_type's: as Whoosh, whose statistics are
            # the space index's whatever the filter), so spaces never share statistics.
            params=models.SearchParams(idf=models.IdfCorpusParams(corpus=space_filter(filters.space_id))),
            limit=limit,
            with_payload=True,
        )

    def scored(self, points: Sequence[models.ScoredPoint]) -> list[ScoredChunk]:
        return [ScoredChunk(chunk_from_payload(p.payload, where=self._where), float(p.score)) for p in points]

    async def search(self, text: str, filters: SearchFilters, limit: int) -> list[ScoredChunk]:
        if limit <= 0:
            return []
        client = self._require()
        request = self.sparse_request(text, filters, limit)
        if request is None:
            return []
        with self._conn.translated("search keywords"):
            response = await client.query_points(
                self._collection,
                query=request.query,
                using=KEYWORDS,
                query_filter=request.filter,
                search_params=request.params,
                limit=limit,
                with_payload=True,
            )
        return [s for s in self.scored(response.points) if s.score > 0]

    async def delete(self, space_id: str, doc_id: str, version: str | None = None) -> None:
        await self._delete_where(space_filter(space_id, doc_id=doc_id, version=version))

    async def drop_space(self, space_id: str) -> None:
        await self._delete_where(space_filter(space_id))

    async def count(self, space_id: str | None = None) -> int:
        client = self._require()
        must: list[models.Condition] = [models.HasVectorCondition(has_vector=KEYWORDS)]
        if space_id is not None:
            must.append(models.FieldCondition(key=TENANT_FIELD, match=models.MatchValue(value=space_id)))
        with self._conn.translated("count keyword vectors"):
            result = await client.count(self._collection, count_filter=models.Filter(must=must), exact=True)
        return int(result.count)

    def describe(self) -> str:
        return f"qdrant sparse vectors '{KEYWORDS}' in the collection {self._where}"

    # -- internals ------------------------------------------------------------------------------

    async def _prepare(self, client: Any) -> None:
        info = await self._conn.info()
        sparse = info.config.params.sparse_vectors or {}
        params = sparse.get(KEYWORDS)
        if params is None:
            # A collection made before KEYWORD_INDEX=qdrant: add the sparse vector (its points get
            # theirs from `ragbot reindex --keywords`).
            with self._conn.translated("add the keyword vector"):
                await client.create_vector_name(
                    self._collection,
                    KEYWORDS,
                    models.SparseVectorNameConfig(
                        sparse=models.SparseVectorConfig(modifier=models.Modifier.IDF)
                    ),
                    wait=True,
                )
                if self._conn.spec.on_disk:
                    await client.update_collection(
                        self._collection, sparse_vectors_config={KEYWORDS: sparse_params(on_disk=True)}
                    )
            log.warning(
                "keyword vector added to an existing collection where=%s: run `ragbot reindex --keywords` "
                "to fill it from the stored chunks",
                self._where,
            )
        elif params.modifier != models.Modifier.IDF:
            raise ConfigError(
                f"The sparse vector '{KEYWORDS}' of the Qdrant collection {self._where} has no IDF modifier; "
                "ragbot needs its own. Set QDRANT_COLLECTION to a new name."
            )
        await self._conn.ensure_payload_indexes()

    async def _delete_where(self, where: models.Filter) -> None:
        client = self._require()
        with self._conn.translated("delete keyword vectors"):
            await client.batch_update_points(
                self._collection, delete_operations(where, KEYWORDS, [_DENSE]), wait=True
            )

    def _require(self) -> Any:
        if not self._started:
            raise IndexUnavailable(f"The keyword index {self._where} is not open (start() was not called).")
        return self._conn.client()


class QdrantJointSearch:
    """A question's dense and keyword searches in one request to the server (``query_batch_points``):
    one round trip instead of two; the two ranked lists come back as if searched apart."""

    def __init__(self, vectors: QdrantServerIndex, keywords: QdrantServerKeywordIndex) -> None:
        if vectors.connection is not keywords.connection:
            raise ConfigError("The joint search needs the vector and keyword index of one collection.")
        self._vectors = vectors
        self._keywords = keywords
        self._conn = keywords.connection

    async def search(
        self, vector: np.ndarray, text: str, filters: SearchFilters, limit: int
    ) -> tuple[list[ScoredChunk], list[ScoredChunk]]:
        """(dense hits, keyword hits) for the question's vector and text."""
        if limit <= 0:
            return [], []
        dense = self._vectors.dense_request(vector, filters, limit)
        sparse = self._keywords.sparse_request(text, filters, limit)
        if sparse is None:
            return await self._vectors.search(vector, filters, limit), []
        client = self._conn.client()
        with self._conn.translated("search"):
            dense_found, sparse_found = await client.query_batch_points(self._collection, [dense, sparse])
        hits = self._keywords.scored(sparse_found.points)
        return self._vectors.scored(dense_found.points), [s for s in hits if s.score > 0]

    @property
    def _collection(self) -> str:
        return self._conn.collection
