"""Re-ranking the fused candidates with a cross-encoder (``RETRIEVAL_RERANK=true``): a Hugging Face
sequence-classification model that reads the question and a passage together and scores how well
the passage answers it (ms-marco-MiniLM, bge-reranker, mmarco-mMiniLMv2 for Russian and English...).

Like the NLI model of the classifier, it is read from a local directory only
(``RETRIEVAL_RERANK_MODEL``): ragbot never downloads weights at run time. docs/retrieval.md says
which models suit English and Russian and what re-ranking costs per question.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from core.errors import BackendError, ConfigError
from core.models import Hit

__all__ = ["CrossEncoderReranker"]

log = logging.getLogger(__name__)


class CrossEncoderReranker:
    """``candidates``: how many of the fused hits are read again (the cost grows with it);
    ``threads``: torch intra-op threads (0: all cores; process-wide)."""

    def __init__(
        self,
        model_dir: str | Path,
        *,
        candidates: int = 30,
        threads: int = 0,
        batch_size: int = 16,
        max_length: int = 512,
    ) -> None:
        self.model_dir = Path(model_dir).expanduser()
        self.name = f"cross-encoder:{self.model_dir.name}"
        self.candidates = candidates
        self.threads = threads
        self.batch_size = batch_size
        self.max_length = max_length
        self._model: PreTrainedModel | None = None
        self._tokenizer: PreTrainedTokenizerBase | None = None
        self._lock = asyncio.Lock()  # one forward pass at a time: torch already uses every thread

    async def start(self) -> None:
        if self._model is not None:
            return
        if not (self.model_dir / "config.json").is_file():
            raise ConfigError(
                f"RETRIEVAL_RERANK_MODEL={self.model_dir} is not a model directory (no config.json). "
                "Download a cross-encoder (e.g. cross-encoder/mmarco-mMiniLMv2-L12-H384-v1) to a folder "
                "and point the setting at it, or set RETRIEVAL_RERANK=false."
            )
        began = time.perf_counter()
        try:
            self._tokenizer, self._model = await asyncio.to_thread(self._load)
        except (OSError, ValueError) as e:
            raise ConfigError(f"The re-ranking model in {self.model_dir} could not be loaded: {e}") from e
        log.info(
            "reranker started name=%s candidates=%d start_s=%.2f",
            self.name,
            self.candidates,
            time.perf_counter() - began,
        )

    def _load(self) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
        if self.threads:
            torch.set_num_threads(self.threads)
        tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
        model = AutoModelForSequenceClassification.from_pretrained(self.model_dir, local_files_only=True)
        model.eval()
        return tokenizer, model

    async def aclose(self) -> None:
        self._model = None
        self._tokenizer = None

    async def rerank(self, query: str, hits: Sequence[Hit], top_k: int) -> list[Hit]:
        """The first ``candidates`` hits in the model's order (its score replaces the fused one),
        then the rest in their fused order."""
        if self._model is None:
            raise BackendError("The re-ranker is not started.")
        head, tail = list(hits[: self.candidates]), list(hits[self.candidates :])
        if not head:
            return list(hits)
        async with self._lock:
            scores = await asyncio.to_thread(self._score, query, [h.chunk.passage for h in head])
        ranked = sorted(zip(head, scores, strict=True), key=lambda pair: pair[1], reverse=True)
        return [replace(hit, score=score) for hit, score in ranked] + tail

    def _score(self, query: str, passages: Sequence[str]) -> list[float]:
        assert self._model is not None and self._tokenizer is not None
        if self.threads:  # torch's count is per thread: see nli_transformers._scores
            torch.set_num_threads(self.threads)
        out: list[float] = []
        with torch.inference_mode():
            for i in range(0, len(passages), self.batch_size):
                batch = list(passages[i : i + self.batch_size])
                encoded = self._tokenizer(
                    [query] * len(batch),
                    batch,
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                logits = self._model(**encoded).logits
                # one logit: a relevance score; two (not relevant / relevant): the second's log-odds
                column = logits[:, -1] - logits[:, 0] if logits.shape[-1] == 2 else logits[:, 0]
                out.extend(float(x) for x in column)
        return out
