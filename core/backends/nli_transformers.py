"""Stage 3 of doc_type classification: zero-shot NLI with a Hugging Face sequence-classification
model (an MNLI/XNLI cross-encoder: mDeBERTa-v3-base-mnli-xnli, bart-large-mnli, ...).

The model is read from a local directory only (``CLASSIFY_NLI_MODEL``): ragbot never downloads
weights at run time. As in the zero-shot pipeline of transformers (one label per document),
each hypothesis is paired with the document, and the entailment logits of all hypotheses go
through one softmax: the scores sum to 1.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from core.errors import BackendError, ConfigError

__all__ = ["TransformersNLI"]

log = logging.getLogger(__name__)


class TransformersNLI:
    """``threads``: torch intra-op threads (0: all cores this process may use; process-wide)."""

    def __init__(self, model_dir: str | Path, *, threads: int = 0, max_length: int = 320) -> None:
        self.model_dir = Path(model_dir).expanduser()
        self.name = f"nli:{self.model_dir.name}"
        self.threads = threads
        self.max_length = max_length
        self._model: PreTrainedModel | None = None
        self._tokenizer: PreTrainedTokenizerBase | None = None
        self._entailment = 0
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        if self._model is not None:
            return
        if not (self.model_dir / "config.json").is_file():
            raise ConfigError(
                f"CLASSIFY_NLI_MODEL={self.model_dir} is not a model directory (no config.json). "
                "Download an NLI model (e.g. mDeBERTa-v3-base-mnli-xnli) to a folder and point the setting at it."
            )
        began = time.perf_counter()
        try:
            tokenizer, model = await asyncio.to_thread(self._load)
        except (OSError, ValueError) as e:
            raise ConfigError(f"The NLI model in {self.model_dir} could not be loaded: {e}") from e
        labels = {int(i): str(label).lower() for i, label in model.config.id2label.items()}
        entailment = [i for i, label in labels.items() if label.startswith("entail")]
        if not entailment:
            raise ConfigError(
                f"The model in {self.model_dir} has no 'entailment' label ({', '.join(labels.values())}): "
                "it is not an NLI model."
            )
        self._tokenizer, self._model, self._entailment = tokenizer, model, entailment[0]
        log.info("nli started model=%s load_s=%.2f", self.model_dir, time.perf_counter() - began)

    def _load(self) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
        torch.set_num_threads(self.threads or len(os.sched_getaffinity(0)))
        tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
        model = AutoModelForSequenceClassification.from_pretrained(self.model_dir, local_files_only=True)
        model.eval()
        return tokenizer, model

    async def aclose(self) -> None:
        self._model = self._tokenizer = None

    def _scores(self, premise: str, hypotheses: Sequence[str]) -> list[float]:
        assert self._model is not None and self._tokenizer is not None
        # torch keeps its thread count per thread, and this runs in whichever executor thread is
        # free (one that loaded another torch model, or none): set it here, not only at load
        torch.set_num_threads(self.threads or len(os.sched_getaffinity(0)))
        batch = self._tokenizer(
            [premise] * len(hypotheses),
            list(hypotheses),
            truncation="only_first",
            max_length=self.max_length,
            padding=True,
            return_tensors="pt",
        )
        with torch.inference_mode():
            logits = self._model(**batch).logits
        return torch.softmax(logits[:, self._entailment], dim=0).tolist()

    async def entailment(self, premise: str, hypotheses: Sequence[str]) -> list[float]:
        if self._model is None:
            raise BackendError("The NLI model is not started")
        if not hypotheses:
            return []
        async with self._lock:  # one inference at a time: parallel runs only fight for the cores
            try:
                return await asyncio.to_thread(self._scores, premise, hypotheses)
            except RuntimeError as e:
                raise BackendError(f"The NLI model failed: {e}") from e
