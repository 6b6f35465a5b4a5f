"""VectorIndex on a Qdrant server (``QDRANT_URL``), through qdrant-client's ``AsyncQdrantClient``.

The collection is created on first start: cosine distance, HNSW ``m`` / ``ef_construct`` from the
settings, keyword payload indexes on ``space_id`` (the tenant key), ``doc_type`` and ``doc_id``.
The server indexes in the background by itself; ``ef`` is passed with every search. Points and
payloads are laid out by ``core.backends.qdrant_points``, as in the embedded backend, so a
collection can be moved between the two with a snapshot. An existing collection with another
dimension or distance is refused with ``ConfigError``.

The tests run this class over qdrant-client's local mode (``url=":memory:"`` or ``path=``): the
same client API with a pure-Python engine. It ignores payload indexes and ``ef`` (brute force),
so those two are only exercised against a real server.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
from qdrant_client import AsyncQdrantClient, models
from qdrant_client.http.exceptions import ApiException, UnexpectedResponse

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

__all__ = ["QdrantServerIndex"]

log = logging.getLogger(__name__)

_BATCH = 256  # points per request: well under the server's 32 MB request limit at 384-d + text
LOCAL_MEMORY = ":memory:"


class QdrantServerIndex:
    """The collection ``collection`` on the Qdrant server at ``url``.

    ``url=":memory:"`` or ``path=DIR`` run qdrant-client's in-process local mode instead (tests)."""

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
    ) -> None:
        if dim <= 0:
            raise ConfigError(f"The vector dimension must be positive, not {dim}.")
        if (url is None) == (path is None):
            raise ConfigError("The Qdrant server index needs exactly one of QDRANT_URL or a local path.")
        self._url = url
        self._path = Path(path) if path is not None else None
        self._api_key = api_key
        self._collection = collection
        self.dim = dim
        self._hnsw_m = hnsw_m
        self._hnsw_ef_construct = hnsw_ef_construct
        self._hnsw_ef = hnsw_ef
        self._timeout = timeout
        self._client: AsyncQdrantClient | None = None
        self._where = f"{collection!r} at {_display(url) if url is not None else self._path}"

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._client is not None:
            return
        with self._translated("open the local store"):
            client = self._new_client()
        try:
            await self._ensure_collection(client)
        except BaseException:
            await client.close()
            raise
        self._client = client
        log.info("vector index open backend=qdrant-server where=%s dim=%d", self._where, self.dim)

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with self._translated("close the connection"):
                await client.close()

    # -- VectorIndex ----------------------------------------------------------------------------

    async def upsert(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        arr = check_vectors(chunks, vectors, self.dim, where=self._where)
        client = self._require()
        for i in range(0, len(chunks), _BATCH):
            points = [
                models.PointStruct(id=str(point_id(c)), vector=v.tolist(), payload=chunk_payload(c))
                for c, v in zip(chunks[i : i + _BATCH], arr[i : i + _BATCH], strict=True)
            ]
            with self._translated("store vectors"):
                await client.upsert(self._collection, points=points, wait=True)

    async def search(self, vector: np.ndarray, filters: SearchFilters, limit: int) -> list[ScoredChunk]:
        query = check_query(vector, self.dim, where=self._where)
        if limit <= 0:
            return []
        client = self._require()
        with self._translated("search"):
            response = await client.query_points(
                self._collection,
                query=query.tolist(),
                query_filter=_filter(filters.space_id, doc_type=filters.doc_type),
                # ACORN for space AND doc_type: see the measurement in qdrant_edge_index (same engine).
                search_params=models.SearchParams(
                    hnsw_ef=self._hnsw_ef,
                    acorn=models.AcornSearchParams(enable=True) if filters.doc_type is not None else None,
                ),
                limit=limit,
                with_payload=True,
            )
        return [
            ScoredChunk(chunk_from_payload(p.payload, where=self._where), float(p.score))
            for p in response.points
        ]

    async def delete(self, space_id: str, doc_id: str, version: str | None = None) -> None:
        await self._delete_where(_filter(space_id, doc_id=doc_id, version=version))

    async def drop_space(self, space_id: str) -> None:
        await self._delete_where(_filter(space_id))

    async def count(self, space_id: str | None = None) -> int:
        client = self._require()
        with self._translated("count points"):
            result = await client.count(
                self._collection, count_filter=_filter(space_id) if space_id is not None else None, exact=True
            )
        return int(result.count)

    async def stats(self) -> dict[str, Any]:
        """What the server reports. Disk use is not in its collection API: ``disk_bytes`` is None."""
        client = self._require()
        with self._translated("read its statistics"):
            info = await client.get_collection(self._collection)
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

    def _new_client(self) -> AsyncQdrantClient:
        if self._path is not None:
            return AsyncQdrantClient(path=str(self._path))
        if self._url == LOCAL_MEMORY:
            return AsyncQdrantClient(location=LOCAL_MEMORY)
        # check_compatibility=False: the client would otherwise fetch the server version with a
        # blocking request inside this constructor, on the event loop.
        return AsyncQdrantClient(
            url=self._url,
            api_key=self._api_key,
            timeout=max(1, math.ceil(self._timeout)),
            check_compatibility=False,
        )

    async def _ensure_collection(self, client: AsyncQdrantClient) -> None:
        name = self._collection
        with self._translated("open the collection"):
            if not await client.collection_exists(name):
                try:
                    await client.create_collection(
                        name,
                        vectors_config=models.VectorParams(size=self.dim, distance=models.Distance.COSINE),
                        hnsw_config=models.HnswConfigDiff(
                            m=self._hnsw_m, ef_construct=self._hnsw_ef_construct
                        ),
                    )
                    log.info("vector collection created where=%s dim=%d", self._where, self.dim)
                except UnexpectedResponse as e:
                    if e.status_code != 409:  # 409: another process created it first; checked below
                        raise
            info = await client.get_collection(name)
        self._check_vectors_config(info.config.params.vectors)
        present = set(info.payload_schema or {})
        for field in KEYWORD_FIELDS:
            if field not in present:
                schema = models.KeywordIndexParams(
                    type=models.KeywordIndexType.KEYWORD, is_tenant=field == TENANT_FIELD
                )
                with self._translated(f"create the payload index on {field}"):
                    await client.create_payload_index(name, field, field_schema=schema, wait=True)

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
        with self._translated("delete points"):
            await client.delete(
                self._collection, points_selector=models.FilterSelector(filter=where), wait=True
            )

    def _require(self) -> AsyncQdrantClient:
        if self._client is None:
            raise IndexUnavailable(f"The vector index {self._where} is not open (start() was not called).")
        return self._client

    @contextlib.contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        try:
            yield
        except CoreError:
            raise
        except UnexpectedResponse as e:
            if e.status_code in (401, 403):
                raise ConfigError(
                    f"The Qdrant server refused ragbot's API key (HTTP {e.status_code}) for {self._where}. "
                    "Check QDRANT_API_KEY."
                ) from e
            raise IndexUnavailable(
                f"The Qdrant server could not {what} for {self._where}: HTTP {e.status_code} {_detail(e)}"
            ) from e
        except (ApiException, httpx.HTTPError, OSError) as e:  # connection refused, timeouts, DNS
            raise IndexUnavailable(f"The Qdrant server for {self._where} is unreachable ({what}): {e}") from e
        except (
            ValueError,
            RuntimeError,
        ) as e:  # local mode: missing collection, folder locked by another client
            raise IndexUnavailable(f"The local Qdrant store {self._where} could not {what}: {e}") from e


def _filter(
    space_id: str, *, doc_type: str | None = None, doc_id: str | None = None, version: str | None = None
) -> models.Filter:
    must: list[models.Condition] = [
        models.FieldCondition(key="space_id", match=models.MatchValue(value=space_id))
    ]
    for key, value in (("doc_type", doc_type), ("doc_id", doc_id), ("version", version)):
        if value is not None:
            must.append(models.FieldCondition(key=key, match=models.MatchValue(value=value)))
    return models.Filter(must=must)


def _display(url: str) -> str:
    """The URL without credentials, for messages and logs."""
    if url == LOCAL_MEMORY:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}" if parts.scheme else url


def _detail(e: UnexpectedResponse) -> str:
    with contextlib.suppress(Exception):
        return str(e.structured()["status"]["error"])
    return e.reason_phrase or ""
