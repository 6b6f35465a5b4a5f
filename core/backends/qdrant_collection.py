"""The Qdrant server collection that the vector and the keyword index share (``QDRANT_URL``).

With ``KEYWORD_INDEX=qdrant`` a point holds both halves of a chunk: the unnamed dense vector
(``core.backends.qdrant_server_index``) and the named sparse vector ``keywords``
(``core.backends.qdrant_keywords_server``), so one Query API request can search both
(docs/retrieval.md, "Keyword search inside Qdrant"). Each index writes only its own half:

- an upsert inserts the points that do not exist yet (``update_mode=insert_only``), then sets its
  own vector on all of them (``update_vectors``, which keeps the other vector) and their payload,
  in one ``batch_update_points`` request;
- a delete removes its own vector from the matching points, then the points left with no vector.

So the two indexes keep the contracts of their ports whatever the order of their writes.

``QdrantConnection`` owns the one client both indexes use (qdrant-client's local mode, which
stands in for a server in tests and evaluation, cannot be opened twice) and creates the
collection with the scale-out settings (shards, replication factor, write consistency, on-disk
storage), which only a new collection takes; see docs/deployment.md, "Many hosts".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from qdrant_client import AsyncQdrantClient, models
from qdrant_client.http.exceptions import ApiException, UnexpectedResponse

from core.backends.qdrant_points import KEYWORD_FIELDS, TENANT_FIELD
from core.backends.sparse_terms import KEYWORD_VECTOR as KEYWORDS
from core.errors import ConfigError, CoreError, IndexUnavailable

__all__ = [
    "KEYWORDS",
    "LOCAL_MEMORY",
    "LOCAL_PREFIX",
    "CollectionSpec",
    "QdrantConnection",
    "delete_operations",
    "upsert_operations",
    "sparse_params",
    "display_url",
]

log = logging.getLogger(__name__)

LOCAL_MEMORY = ":memory:"
# QDRANT_URL=local:DIR: qdrant-client's local mode on a folder (the server's API, in process, for
# tests and evaluation without a server binary; pure Python and brute force, not for production).
LOCAL_PREFIX = "local:"


@dataclass(frozen=True)
class CollectionSpec:
    """What a new collection is created with. ``keywords``: it also gets the sparse vector."""

    dim: int
    hnsw_m: int = 16
    hnsw_ef_construct: int = 100
    keywords: bool = False
    shards: int = 1
    replication_factor: int = 1
    write_consistency: int = 1
    on_disk: bool = False


class QdrantConnection:
    """One ``AsyncQdrantClient`` for the collection ``collection``, opened by the first of its
    users to start and closed by the last to close. ``url``: a server, ``:memory:`` or
    ``local:DIR``; ``path``: a local-mode folder (tests)."""

    def __init__(
        self,
        url: str | None,
        spec: CollectionSpec,
        *,
        api_key: str | None = None,
        collection: str = "ragbot_chunks",
        timeout: float = 10.0,
        path: str | os.PathLike[str] | None = None,
    ) -> None:
        if url is not None and url.startswith(LOCAL_PREFIX):
            url, path = None, url[len(LOCAL_PREFIX) :]
        if (url is None) == (path is None):
            raise ConfigError("The Qdrant server index needs exactly one of QDRANT_URL or a local path.")
        self.url = url
        self.path = Path(path) if path is not None else None
        self.spec = spec
        self.collection = collection
        self._api_key = api_key
        self._timeout = timeout
        self._client: AsyncQdrantClient | None = None
        self._users = 0
        self._lock = asyncio.Lock()
        self._info: models.CollectionInfo | None = None
        self.where = f"{collection!r} at {display_url(url) if url is not None else self.path}"

    async def acquire(self) -> AsyncQdrantClient:
        """The client, opened and the collection created on first use."""
        async with self._lock:
            if self._client is None:
                with self.translated("open the local store"):
                    client = self._new_client()
                try:
                    await self._ensure_collection(client)
                except BaseException:
                    await client.close()
                    raise
                self._client = client
            self._users += 1
            return self._client

    async def release(self) -> None:
        async with self._lock:
            self._users = max(0, self._users - 1)
            if self._users == 0 and self._client is not None:
                client, self._client = self._client, None
                with self.translated("close the connection"):
                    await client.close()

    def client(self) -> AsyncQdrantClient:
        if self._client is None:
            raise IndexUnavailable(
                f"The Qdrant collection {self.where} is not open (start() was not called)."
            )
        return self._client

    async def ensure_payload_indexes(self) -> None:
        """Keyword payload indexes on the fields every search or delete filters on (space_id is
        the tenant key: Qdrant keeps a space's points together)."""
        info = await self.info()
        present = set(info.payload_schema or {})
        for field in KEYWORD_FIELDS:
            if field not in present:
                schema = models.KeywordIndexParams(
                    type=models.KeywordIndexType.KEYWORD, is_tenant=field == TENANT_FIELD
                )
                with self.translated(f"create the payload index on {field}"):
                    await self.client().create_payload_index(
                        self.collection, field, field_schema=schema, wait=True
                    )

    async def info(self) -> models.CollectionInfo:
        with self.translated("read its configuration"):
            return await self.client().get_collection(self.collection)

    def _new_client(self) -> AsyncQdrantClient:
        if self.path is not None:
            return AsyncQdrantClient(path=str(self.path))
        if self.url == LOCAL_MEMORY:
            return AsyncQdrantClient(location=LOCAL_MEMORY)
        # check_compatibility=False: the client would otherwise fetch the server version with a
        # blocking request inside this constructor, on the event loop.
        return AsyncQdrantClient(
            url=self.url,
            api_key=self._api_key,
            timeout=max(1, math.ceil(self._timeout)),
            check_compatibility=False,
        )

    async def _ensure_collection(self, client: AsyncQdrantClient) -> None:
        spec, name = self.spec, self.collection
        with self.translated("open the collection"):
            if await client.collection_exists(name):
                info = await client.get_collection(name)
                _report_settings_of_existing(info, spec, self.where)
                return
            sparse = None
            if spec.keywords:
                sparse = {KEYWORDS: sparse_params(spec.on_disk)}
            try:
                await client.create_collection(
                    name,
                    vectors_config=models.VectorParams(
                        size=spec.dim, distance=models.Distance.COSINE, on_disk=spec.on_disk or None
                    ),
                    sparse_vectors_config=sparse,
                    hnsw_config=models.HnswConfigDiff(m=spec.hnsw_m, ef_construct=spec.hnsw_ef_construct),
                    shard_number=spec.shards,
                    replication_factor=spec.replication_factor,
                    write_consistency_factor=spec.write_consistency,
                    on_disk_payload=spec.on_disk or None,
                )
                log.info(
                    "qdrant collection created where=%s dim=%d keywords=%s shards=%d replication=%d "
                    "write_consistency=%d on_disk=%s",
                    self.where,
                    spec.dim,
                    spec.keywords,
                    spec.shards,
                    spec.replication_factor,
                    spec.write_consistency,
                    spec.on_disk,
                )
            except UnexpectedResponse as e:
                if e.status_code != 409:  # 409: another replica created it first
                    raise

    @contextlib.contextmanager
    def translated(self, what: str) -> Iterator[None]:
        """Library errors -> IndexUnavailable / ConfigError with a readable message."""
        try:
            yield
        except CoreError:
            raise
        except UnexpectedResponse as e:
            if e.status_code in (401, 403):
                raise ConfigError(
                    f"The Qdrant server refused ragbot's API key (HTTP {e.status_code}) for {self.where}. "
                    "Check QDRANT_API_KEY."
                ) from e
            raise IndexUnavailable(
                f"The Qdrant server could not {what} for {self.where}: HTTP {e.status_code} {_detail(e)}"
            ) from e
        except (ApiException, httpx.HTTPError, OSError) as e:  # connection refused, timeouts, DNS
            raise IndexUnavailable(f"The Qdrant server for {self.where} is unreachable ({what}): {e}") from e
        except (ValueError, RuntimeError) as e:  # local mode: missing collection, folder locked
            raise IndexUnavailable(f"The local Qdrant store {self.where} could not {what}: {e}") from e


def sparse_params(on_disk: bool) -> models.SparseVectorParams:
    """The keyword vector: IDF computed by Qdrant, the inverted index in RAM unless on disk."""
    return models.SparseVectorParams(
        modifier=models.Modifier.IDF, index=models.SparseIndexParams(on_disk=True) if on_disk else None
    )


def _report_settings_of_existing(info: models.CollectionInfo, spec: CollectionSpec, where: str) -> None:
    """An existing collection keeps the layout it was created with: say where the settings differ
    (docs/deployment.md says how to change each)."""
    params = info.config.params
    differ = []
    for setting, have, want in (
        ("QDRANT_SHARDS", params.shard_number, spec.shards),
        ("QDRANT_REPLICATION_FACTOR", params.replication_factor, spec.replication_factor),
        ("QDRANT_WRITE_CONSISTENCY", params.write_consistency_factor, spec.write_consistency),
    ):
        if have is not None and have != want:
            differ.append(f"{setting}={want} (the collection has {have})")
    vectors = params.vectors
    if isinstance(vectors, models.VectorParams) and bool(vectors.on_disk) != spec.on_disk:
        have = str(bool(vectors.on_disk)).lower()
        differ.append(f"QDRANT_ON_DISK={str(spec.on_disk).lower()} (the collection has {have})")
    if differ:
        log.warning(
            "qdrant collection exists with other scale-out settings where=%s differ=%s: they apply to new "
            "collections only; see docs/deployment.md (Many hosts) to change an existing one",
            where,
            "; ".join(differ),
        )


# -- writing one half of a shared point -----------------------------------------------------------


def upsert_operations(
    ids: list[str], vectors: list[Any], payloads: list[dict[str, Any]], own: str
) -> list[models.UpdateOperation]:
    """Insert the points that are new, then set ``own`` vector and the payload on every one of them,
    keeping whatever other vector a point has. ``own``: "" for the dense vector, else its name."""
    named = [v if own == "" else {own: v} for v in vectors]
    inserts = [
        models.PointStruct(id=i, vector=v, payload=p) for i, v, p in zip(ids, named, payloads, strict=True)
    ]
    ops: list[models.UpdateOperation] = [
        models.UpsertOperation(
            upsert=models.PointsList(points=inserts, update_mode=models.UpdateMode.INSERT_ONLY)
        ),
        models.UpdateVectorsOperation(
            update_vectors=models.UpdateVectors(
                points=[models.PointVectors(id=i, vector={own: v}) for i, v in zip(ids, vectors, strict=True)]
            )
        ),
    ]
    # The payload of a chunk id can change (the same place in a document with other text): set it
    # on each point, whether it was just inserted or already there.
    ops += [
        models.OverwritePayloadOperation(overwrite_payload=models.SetPayload(payload=p, points=[i]))
        for i, p in zip(ids, payloads, strict=True)
    ]
    return ops


def delete_operations(where: models.Filter, own: str, others: list[str]) -> list[models.UpdateOperation]:
    """Remove ``own`` vector from the points matching ``where``, then the points left with none."""
    if not others:
        return [models.DeleteOperation(delete=models.FilterSelector(filter=where))]
    empty = models.Filter(
        must=[where], must_not=[models.HasVectorCondition(has_vector=name) for name in others]
    )
    return [
        models.DeleteVectorsOperation(delete_vectors=models.DeleteVectors(filter=where, vector=[own])),
        models.DeleteOperation(delete=models.FilterSelector(filter=empty)),
    ]


def display_url(url: str) -> str:
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
