"""A deterministic embedder: hashed bag of lower-cased words. Texts that share words get
similar vectors, so retrieval tests mean something without loading a model."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from core.text import WORD_RE

__all__ = ["HashEmbedder"]


class HashEmbedder:
    def __init__(self, dim: int = 64) -> None:
        self.name = f"hash-{dim}"
        self.dim = dim
        self.calls: list[int] = []  # batch sizes, so tests can count embedding work

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for word in WORD_RE.findall(text.lower()):
            if not word.isalnum():
                continue
            h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
            v[h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
        norm = float(np.linalg.norm(v))
        if norm == 0.0:
            v[0] = 1.0
            return v
        return v / norm

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(len(texts))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts])

    async def embed_query(self, text: str) -> np.ndarray:
        return self._vector(text)
