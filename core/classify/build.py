"""Settings -> the staged doc_type classifier. Cheap: nothing is loaded until ``start()``.

Which model file is used (the first that applies):
1. ``CLASSIFY_MODEL_FILE``, when set;
2. ``DATA_DIR/classify/doctype_model.npz``, written by ``ragbot classify train``;
3. the model shipped in ``core/data/classify/doctype_model.npz``.

Like ``bot.bootstrap``, each backend module is imported where it is chosen: the model pulls in
torch and scikit-learn, and a command that does not classify should not pay for them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from core.classify.labelled import load_labelled
from core.classify.stages import StagedClassifier, TypeModel, ZeroShotNLI
from core.classify.taxonomy import load_taxonomy
from core.settings import Settings

if TYPE_CHECKING:
    from core.backends.doctype_model import TrainingReport

__all__ = [
    "build_classifier",
    "train_model",
    "model_path",
    "user_model_path",
    "SHIPPED_MODEL",
    "MODEL_FILE_NAME",
]

MODEL_FILE_NAME = "doctype_model.npz"
SHIPPED_MODEL = Path(__file__).resolve().parent.parent / "data" / "classify" / MODEL_FILE_NAME


def user_model_path(settings: Settings) -> Path:
    """Where ``ragbot classify train`` writes a deployment's own model."""
    return Path(settings.data_dir) / "classify" / MODEL_FILE_NAME


def model_path(settings: Settings) -> Path:
    if settings.classify.model_file is not None:
        return Path(settings.classify.model_file)
    user = user_model_path(settings)
    return user if user.is_file() else SHIPPED_MODEL


def build_classifier(settings: Settings) -> StagedClassifier:
    """The classifier the ingestion pipeline asks when a document comes without a type."""
    cfg = settings.classify
    taxonomy = load_taxonomy(cfg.taxonomy_file)
    model: TypeModel | None = None
    nli: ZeroShotNLI | None = None
    if cfg.use_model:
        from core.backends.doctype_model import DocTypeModel
        from core.backends.minilm_embedder import MiniLMEmbedder

        model = DocTypeModel(
            model_path(settings), MiniLMEmbedder(batch_size=8, threads=settings.embedding.threads)
        )
    if cfg.nli_model:
        from core.backends.nli_transformers import TransformersNLI

        nli = TransformersNLI(cfg.nli_model, threads=cfg.nli_threads)
    return StagedClassifier(
        taxonomy,
        model=model,
        nli=nli,
        min_confidence=cfg.min_confidence,
        nli_min_confidence=cfg.nli_min_confidence,
    )


async def train_model(settings: Settings, labels: Path, out: Path) -> TrainingReport:
    """Fit the stage-2 model on the train split of ``labels`` and write it to ``out``."""
    from core.backends.doctype_model import save_params, train_doctype_model
    from core.backends.minilm_embedder import MiniLMEmbedder

    taxonomy = load_taxonomy(settings.classify.taxonomy_file)
    docs = await asyncio.to_thread(load_labelled, labels, split="train")
    embedder = MiniLMEmbedder(batch_size=16, threads=settings.embedding.threads)
    await embedder.start()
    try:
        report = await train_doctype_model(docs, taxonomy, embedder)
    finally:
        await embedder.aclose()
    await asyncio.to_thread(save_params, report.params, out)
    return report
