"""How a ``Chunk`` is stored as a Qdrant point, shared by the embedded (qdrant-edge) and the server
(qdrant-client) backends: the point id, the payload, the way back to a ``Chunk``, and the checks
on vectors both backends make before they touch the engine.

Pure: no engine is imported here, so both backends agree on one layout by construction.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from core.errors import ConfigError, IndexUnavailable
from core.models import Chunk

__all__ = [
    "CHUNK_ID_NAMESPACE",
    "KEYWORD_FIELDS",
    "TENANT_FIELD",
    "point_id",
    "chunk_payload",
    "chunk_from_payload",
    "check_vectors",
    "check_query",
]

# uuid5 namespace of point ids. Fixed forever: changing it would orphan every stored point, because
# re-upserting a chunk would then add a second point instead of overwriting the first.
CHUNK_ID_NAMESPACE = uuid.UUID("0b5f2a4e-7c1d-5e39-9a57-2d6c8f0e4b13")

# Payload fields with a keyword index: every search filters on space_id (and often doc_type), every
# delete on space_id + doc_id. space_id is also the tenant key: Qdrant keeps a tenant's points
# together in optimised segments and builds per-tenant HNSW links for it.
TENANT_FIELD = "space_id"
KEYWORD_FIELDS = ("space_id", "doc_type", "doc_id")

_REQUIRED = ("space_id", "doc_id", "version", "position", "title", "text", "source")


def point_id(chunk: Chunk) -> uuid.UUID:
    """The point id of a chunk: the same chunk_id always gives the same id, so upserts overwrite."""
    return uuid.uuid5(CHUNK_ID_NAMESPACE, chunk.chunk_id)


def chunk_payload(chunk: Chunk) -> dict[str, Any]:
    return {
        "space_id": chunk.space_id,
        "doc_type": chunk.doc_type,
        "doc_id": chunk.doc_id,
        "version": chunk.version,
        "position": chunk.position,
        "title": chunk.title,
        "heading_path": list(chunk.heading_path),
        "source": chunk.source,
        "text": chunk.text,
        "lang": chunk.lang,
        "n_tokens": chunk.n_tokens,
        "chunk_id": chunk.chunk_id,  # not needed to rebuild the chunk; makes points readable in a UI
    }


def chunk_from_payload(payload: Mapping[str, Any] | None, *, where: str) -> Chunk:
    """Rebuild the chunk a point was made from. ``where`` names the collection for the message."""
    payload = payload or {}
    missing = [k for k in _REQUIRED if k not in payload]
    if missing:
        raise IndexUnavailable(
            f"A point in {where} has no {', '.join(missing)} in its payload: the collection holds "
            "points ragbot did not write. Point ragbot at its own collection."
        )
    return Chunk(
        space_id=str(payload["space_id"]),
        doc_id=str(payload["doc_id"]),
        version=str(payload["version"]),
        position=int(payload["position"]),
        title=str(payload["title"]),
        heading_path=tuple(str(h) for h in payload.get("heading_path") or ()),
        text=str(payload["text"]),
        source=str(payload["source"]),
        doc_type=str(payload.get("doc_type", "unknown")),
        lang=str(payload.get("lang", "en")),
        n_tokens=int(payload.get("n_tokens", 0)),
    )


def _dim_error(got: int, dim: int, where: str) -> ConfigError:
    return ConfigError(
        f"The vector index {where} holds {dim}-dimensional vectors, but was given {got}-dimensional "
        "ones: the embedding model changed since the index was built. Re-ingest into a new collection "
        "(QDRANT_COLLECTION) or switch the embedding model back."
    )


def check_vectors(chunks: Sequence[Chunk], vectors: np.ndarray, dim: int, *, where: str) -> np.ndarray:
    """Validate one vector per chunk of the index's dimension; return them as float32 (n, dim)."""
    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim != 2 or len(arr) != len(chunks):
        raise ValueError(f"one vector per chunk: {len(chunks)} chunks, vectors of shape {arr.shape}")
    if arr.shape[1] != dim:
        raise _dim_error(arr.shape[1], dim, where)
    if not np.isfinite(arr).all():
        raise ValueError("vectors contain NaN or infinity")
    return arr


def check_query(vector: np.ndarray, dim: int, *, where: str) -> np.ndarray:
    arr = np.asarray(vector, dtype=np.float32).reshape(-1)
    if arr.shape[0] != dim:
        raise _dim_error(arr.shape[0], dim, where)
    return arr
