"""Embedding many texts through an embedder that runs one inference at a time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import numpy as np

__all__ = ["embed_in_slices"]


async def embed_in_slices(
    embed: Callable[[list[str]], Awaitable[np.ndarray]], texts: Sequence[str], *, batch_size: int, dim: int
) -> np.ndarray:
    """``embed`` each slice of ``batch_size`` texts in turn. Each slice is one turn of the
    embedder's lock, so that a question asked during a long ingestion waits for one slice, not for
    the whole document set."""
    if not texts:
        return np.zeros((0, dim), dtype=np.float32)
    texts = list(texts)
    parts = [await embed(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]
    return np.concatenate(parts)
