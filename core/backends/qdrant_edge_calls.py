"""What the two embedded qdrant-edge shards (the vector index, ``qdrant_edge_index``, and the
keyword index, ``qdrant_keywords_edge``) share: a blocking engine call run in a thread with its
errors made readable, and the payload filter of a space."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from qdrant_edge import FieldCondition, Filter, MatchValue

from core.errors import CoreError, IndexUnavailable

__all__ = ["run_blocking", "edge_filter"]

T = TypeVar("T")


async def run_blocking(index: str, directory: Path, what: str, fn: Callable[..., T], *args: Any) -> T:
    """Run an engine call in a thread; its errors become IndexUnavailable naming ``index`` ("vector
    index", "keyword index") and its directory."""
    try:
        return await asyncio.to_thread(fn, *args)
    except CoreError:
        raise
    except Exception as e:  # qdrant-edge raises plain Exception carrying the engine's message
        message = str(e)
        if "WouldBlock" in message:  # the WAL's file lock, held by another process
            raise IndexUnavailable(
                f"The {index} at {directory} is in use by another process. Only one ragbot "
                "process can open the embedded index; run a Qdrant server (QDRANT_URL) to share one."
            ) from e
        raise IndexUnavailable(f"The {index} at {directory} could not {what}: {message}") from e


def edge_filter(
    space_id: str, *, doc_type: str | None = None, doc_id: str | None = None, version: str | None = None
) -> Filter:
    must = [FieldCondition(key="space_id", match=MatchValue(space_id))]
    for key, value in (("doc_type", doc_type), ("doc_id", doc_id), ("version", version)):
        if value is not None:
            must.append(FieldCondition(key=key, match=MatchValue(value)))
    return Filter(must=must)
