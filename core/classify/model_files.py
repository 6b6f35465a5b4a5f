"""Where the stage-2 doc_type model file comes from (the first that applies):
1. ``CLASSIFY_MODEL_FILE``, when set;
2. ``DATA_DIR/classify/doctype_model.npz``, written by ``ragbot classify train``;
3. the model shipped in ``core/data/classify/doctype_model.npz``.
"""

from __future__ import annotations

from pathlib import Path

from core.settings import CoreSettings

__all__ = ["model_path", "user_model_path", "SHIPPED_MODEL", "MODEL_FILE_NAME"]

MODEL_FILE_NAME = "doctype_model.npz"
SHIPPED_MODEL = Path(__file__).resolve().parent.parent / "data" / "classify" / MODEL_FILE_NAME


def user_model_path(settings: CoreSettings) -> Path:
    """Where ``ragbot classify train`` writes a deployment's own model."""
    return Path(settings.data_dir) / "classify" / MODEL_FILE_NAME


def model_path(settings: CoreSettings) -> Path:
    if settings.classify.model_file is not None:
        return Path(settings.classify.model_file)
    user = user_model_path(settings)
    return user if user.is_file() else SHIPPED_MODEL
