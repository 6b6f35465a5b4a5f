"""Stage 2 of doc_type classification: MiniLM embeddings + logistic regression.

MiniLM (all-MiniLM-L6-v2) is English-only: Russian text falls apart into word pieces and its
embedding says little. So the logistic regression reads four blocks of features side by side:

- the MiniLM embedding of the title, the first headings and the start of the text (the core);
- TF-IDF of character 2-4-grams of the file name, title, headings and text start: language-
  neutral, it carries Russian (and English) vocabulary MiniLM does not know;
- the rule evidence per type (``core.classify.rules``): cues too weak for rules alone to decide;
- a few layout facts: question headings, lists, tables, times, dates, version numbers.

The ablation that chose this mix (and the block weights) is in docs/classification.md.

The model file is numpy arrays + JSON in one ``.npz`` (no pickle: loading it runs no code, and
it loads in milliseconds). ``train_doctype_model`` fits it from labelled documents; the
threshold under which the answer is ``unknown`` is tuned on cross-validated predictions of the
training documents, never on the held-out split.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedGroupKFold

from core.classify.labelled import LabelledDoc
from core.classify.rules import Evidence, RuleSet
from core.classify.taxonomy import Taxonomy
from core.classify.view import DocView, view_of
from core.errors import ConfigError
from core.ports import Embedder

__all__ = [
    "DocTypeModel",
    "ModelParams",
    "TrainingConfig",
    "TrainingReport",
    "train_doctype_model",
    "save_params",
    "load_params",
]

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
BLOCKS = ("embedding", "chars", "rules", "layout")
_RULE_COLUMNS = 6  # per type, see RuleSet.features
_EMBED_CHARS = 1500  # MiniLM reads 256 word pieces; more text is cut off anyway
_CHARS_TEXT = 3000
_NGRAMS = (2, 4)

_TIME = re.compile(r"\b[0-2]?\d:[0-5]\d\b")
_DATE = re.compile(r"\b(?:\d{4}-\d{2}-\d{2}|\d{1,2}[./]\d{1,2}[./]\d{2,4})\b")
_VERSION = re.compile(r"\bv?\d+\.\d+(?:\.\d+)?\b")
_CYRILLIC = re.compile(r"[а-яё]")
_LATIN = re.compile(r"[a-z]")


def embedding_text(view: DocView) -> str:
    headings = " · ".join(view.headings[:12])
    return f"{view.raw_title}. {headings}\n{view.raw_head[:_EMBED_CHARS]}"


def chars_text(view: DocView) -> str:
    return f"{view.filename} | {view.title} | {' | '.join(view.headings[:20])} | {view.head[:_CHARS_TEXT]}"


def _log_scaled(n: int, cap: int) -> float:
    return math.log1p(min(n, cap)) / math.log1p(cap)


def layout_features(view: DocView) -> np.ndarray:
    lines = [ln.strip() for ln in view.raw_head.splitlines() if ln.strip()]
    n = max(len(lines), 1)
    headings = view.headings
    cyr = len(_CYRILLIC.findall(view.head))
    lat = len(_LATIN.findall(view.head))
    return np.asarray(
        [
            sum(h.endswith("?") for h in headings) / max(len(headings), 1),
            _log_scaled(len(headings), 40),
            sum(ln.startswith(("- ", "* ", "• ")) for ln in lines) / n,
            sum(bool(re.match(r"\d+[.)] ", ln)) for ln in lines) / n,
            sum(ln.startswith("|") for ln in lines) / n,
            sum(ln.endswith("?") for ln in lines) / n,
            _log_scaled(view.raw_head.count("```"), 20),
            _log_scaled(len(_TIME.findall(view.head)), 20),
            _log_scaled(len(_DATE.findall(view.head)), 20),
            _log_scaled(len(_VERSION.findall(view.head)), 20),
            cyr / max(cyr + lat, 1),
        ],
        dtype=np.float32,
    )


LAYOUT_DIM = len(layout_features(view_of(title="", text="x", source="", metadata={})))


def rule_features(evidence: Evidence, types: Sequence[str]) -> np.ndarray:
    """The evidence for the types the model was trained on, in its order (zeros for a type the
    current taxonomy does not have)."""
    rows = []
    for name in types:
        h = evidence.hits.get(name)
        if h is None:
            rows.append([0.0] * _RULE_COLUMNS)
            continue
        rows.append(
            [
                h["filename"],
                h["path"],
                h["title"],
                h["front_matter"],
                min(h["heading"], 2) / 2,
                math.log1p(h["keywords"]) / math.log1p(20),
            ]
        )
    return np.asarray(rows, dtype=np.float32).ravel()


@dataclass(frozen=True)
class TrainingConfig:
    # block weights: the scale of a block relative to the others under one L2 penalty
    weights: Mapping[str, float] = field(
        default_factory=lambda: {"embedding": 1.0, "chars": 2.0, "rules": 0.5, "layout": 0.5}
    )
    c: float = 10.0  # inverse regularisation of the logistic regression
    folds: int = 5
    seed: int = 0
    target_precision: float = 0.9  # the threshold keeps cross-validated precision at least this
    max_features: int = 30000
    min_df: int = 2


@dataclass(frozen=True)
class ModelParams:
    classes: tuple[str, ...]
    rule_types: tuple[str, ...]
    vocabulary: tuple[str, ...]
    idf: np.ndarray
    coef: np.ndarray  # (classes, features)
    intercept: np.ndarray  # (classes,)
    weights: Mapping[str, float]
    threshold: float
    embedder: str  # the encoder the embedding block was trained with
    embedding_dim: int
    meta: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingReport:
    params: ModelParams
    n_docs: int
    cv_model_macro_f1: float  # out-of-fold, the model alone on every training document
    cv_pipeline_macro_f1: float  # out-of-fold, rules first and the model for the rest
    cv_pipeline_accuracy: float
    cv_coverage: float  # share of the documents left to the model that it decides at the threshold
    cv_precision: float  # and how many of those it gets right
    threshold: float
    seconds: float


def save_params(params: ModelParams, path: Path) -> None:
    meta = {
        "format": FORMAT_VERSION,
        "classes": list(params.classes),
        "rule_types": list(params.rule_types),
        "weights": dict(params.weights),
        "threshold": params.threshold,
        "embedder": params.embedder,
        "embedding_dim": params.embedding_dim,
        "ngram_range": list(_NGRAMS),
        **dict(params.meta),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        np.savez_compressed(
            f,
            meta=np.array(json.dumps(meta, ensure_ascii=False)),
            vocabulary=np.array(params.vocabulary, dtype=str),
            idf=params.idf.astype(np.float32),
            coef=params.coef.astype(np.float32),
            intercept=params.intercept.astype(np.float32),
        )
    tmp.replace(path)  # a half-written model never replaces a good one


def load_params(path: Path) -> ModelParams:
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            vocabulary = tuple(str(t) for t in data["vocabulary"])
            idf, coef, intercept = data["idf"], data["coef"], data["intercept"]
    except (OSError, KeyError, ValueError) as e:
        raise ConfigError(
            f"Cannot load the doc_type model {path}: {e}. Rebuild it with `ragbot classify train`."
        ) from e
    if meta.get("format") != FORMAT_VERSION:
        raise ConfigError(
            f"The doc_type model {path} has format {meta.get('format')}, expected {FORMAT_VERSION}. Rebuild it with `ragbot classify train`."
        )
    return ModelParams(
        classes=tuple(meta["classes"]),
        rule_types=tuple(meta["rule_types"]),
        vocabulary=vocabulary,
        idf=idf,
        coef=coef,
        intercept=intercept,
        weights=meta["weights"],
        threshold=float(meta["threshold"]),
        embedder=meta["embedder"],
        embedding_dim=int(meta["embedding_dim"]),
        meta={k: v for k, v in meta.items() if k not in ("classes", "rule_types", "weights", "threshold")},
    )


def _vectorizer(
    vocabulary: Sequence[str] | None = None, *, max_features: int = 30000, min_df: int = 2
) -> TfidfVectorizer:
    return TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=_NGRAMS,
        sublinear_tf=True,
        lowercase=False,  # the view is folded already
        min_df=min_df if vocabulary is None else 1,
        max_features=max_features if vocabulary is None else None,
        vocabulary={t: i for i, t in enumerate(vocabulary)} if vocabulary is not None else None,
        dtype=np.float32,
    )


def _assemble(
    embeddings: np.ndarray,
    chars: sp.spmatrix,
    rules: np.ndarray,
    layout: np.ndarray,
    weights: Mapping[str, float],
) -> sp.csr_matrix:
    return sp.hstack(
        [
            sp.csr_matrix(embeddings * weights["embedding"]),
            chars * weights["chars"],
            sp.csr_matrix(rules * weights["rules"]),
            sp.csr_matrix(layout * weights["layout"]),
        ]
    ).tocsr()


class DocTypeModel:
    """The trained stage-2 model (a ``TypeModel``): a model file and the embedder it was trained with."""

    def __init__(self, path: Path, embedder: Embedder) -> None:
        self.path = Path(path)
        self.embedder = embedder
        self.name = f"doctype-lr:{self.path.name}"
        self.threshold = 1.0
        self._params: ModelParams | None = None
        self._vectorizer: TfidfVectorizer | None = None

    async def start(self) -> None:
        if self._params is not None:
            return
        began = time.perf_counter()
        params = await asyncio.to_thread(load_params, self.path)
        await self.embedder.start()
        if params.embedder != self.embedder.name or params.embedding_dim != self.embedder.dim:
            raise ConfigError(
                f"The doc_type model {self.path} was trained with the {params.embedder} encoder "
                f"({params.embedding_dim}-d), not {self.embedder.name} ({self.embedder.dim}-d). "
                "Rebuild it with `ragbot classify train`."
            )
        vectorizer = _vectorizer(params.vocabulary)
        vectorizer.idf_ = params.idf
        self._params, self._vectorizer = params, vectorizer
        self.threshold = params.threshold
        log.info(
            "doctype model loaded path=%s classes=%d features=%d threshold=%.2f load_s=%.3f",
            self.path,
            len(params.classes),
            params.coef.shape[1],
            params.threshold,
            time.perf_counter() - began,
        )

    async def aclose(self) -> None:
        self._params = self._vectorizer = None
        await self.embedder.aclose()

    @property
    def params(self) -> ModelParams:
        if self._params is None:
            raise ConfigError("The doc_type model is not started")
        return self._params

    async def predict(self, view: DocView, evidence: Evidence) -> dict[str, float]:
        params, vectorizer = self.params, self._vectorizer
        assert vectorizer is not None
        embedding = await self.embedder.embed_documents([embedding_text(view)])
        chars = vectorizer.transform([chars_text(view)])
        x = _assemble(
            embedding,
            chars,
            rule_features(evidence, params.rule_types)[None, :],
            layout_features(view)[None, :],
            params.weights,
        )
        logits = np.asarray(x @ params.coef.T).ravel() + params.intercept
        p = np.exp(logits - logits.max())
        p /= p.sum()
        return {c: float(v) for c, v in zip(params.classes, p, strict=True)}


def _threshold(probs: np.ndarray, correct: np.ndarray, target: float) -> tuple[float, float, float]:
    """The lowest threshold whose accepted predictions are at least ``target`` precise:
    (threshold, coverage, precision)."""
    for t in np.round(np.arange(0.20, 0.96, 0.05), 2):
        accepted = probs >= t
        if not accepted.any():
            break
        precision = float(correct[accepted].mean())
        if precision >= target:
            return float(t), float(accepted.mean()), precision
    return (
        0.95,
        float((probs >= 0.95).mean()),
        float(correct[probs >= 0.95].mean()) if (probs >= 0.95).any() else 1.0,
    )


async def train_doctype_model(
    docs: Sequence[LabelledDoc], taxonomy: Taxonomy, embedder: Embedder, config: TrainingConfig | None = None
) -> TrainingReport:
    """Fit the model on ``docs`` (the training split). The embedder must be started."""
    config = config or TrainingConfig()
    began = time.perf_counter()
    unknown = sorted({d.label for d in docs} - set(taxonomy.names))
    if unknown:
        raise ConfigError(f"The labelled set uses types the taxonomy does not have: {', '.join(unknown)}.")
    rules = RuleSet(taxonomy)
    views = [view_of(title=d.title, text=d.text, source=d.path, metadata=d.metadata) for d in docs]
    evidence = [rules.evidence(v) for v in views]
    ruled = np.array([rules.decide(v, e) for v, e in zip(views, evidence, strict=True)], dtype=object)
    embeddings = await embedder.embed_documents([embedding_text(v) for v in views])
    report = await asyncio.to_thread(
        _fit, docs, views, evidence, ruled, embeddings, taxonomy, embedder, config
    )
    log.info(
        "doctype model trained docs=%d cv_macro_f1=%.3f threshold=%.2f seconds=%.1f",
        report.n_docs,
        report.cv_pipeline_macro_f1,
        report.threshold,
        time.perf_counter() - began,
    )
    return report


def _fit(
    docs: Sequence[LabelledDoc],
    views: list[DocView],
    evidence: list[Evidence],
    ruled: np.ndarray,
    embeddings: np.ndarray,
    taxonomy: Taxonomy,
    embedder: Embedder,
    config: TrainingConfig,
) -> TrainingReport:
    began = time.perf_counter()
    y = np.array([d.label for d in docs])
    groups = [d.group for d in docs]
    texts = [chars_text(v) for v in views]
    rule_x = np.stack([rule_features(e, taxonomy.names) for e in evidence])
    layout_x = np.stack([layout_features(v) for v in views])

    def fit(rows: np.ndarray) -> tuple[LogisticRegression, TfidfVectorizer]:
        vectorizer = _vectorizer(max_features=config.max_features, min_df=config.min_df)
        chars = vectorizer.fit_transform([texts[i] for i in rows])
        x = _assemble(embeddings[rows], chars, rule_x[rows], layout_x[rows], config.weights)
        lr = LogisticRegression(C=config.c, max_iter=5000, class_weight="balanced")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            lr.fit(x, y[rows])
        return lr, vectorizer

    def probabilities(lr: LogisticRegression, vectorizer: TfidfVectorizer, rows: np.ndarray) -> np.ndarray:
        chars = vectorizer.transform([texts[i] for i in rows])
        return lr.predict_proba(
            _assemble(embeddings[rows], chars, rule_x[rows], layout_x[rows], config.weights)
        )

    # out-of-fold predictions: for the threshold and for an honest training-time estimate
    folds = min(config.folds, int(np.bincount(np.unique(y, return_inverse=True)[1]).min()))
    oof_pred = np.empty(len(y), dtype=object)
    oof_prob = np.zeros(len(y))
    cv = StratifiedGroupKFold(n_splits=max(folds, 2), shuffle=True, random_state=config.seed)
    for train_rows, test_rows in cv.split(np.zeros(len(y)), y, groups):
        lr, vectorizer = fit(train_rows)
        p = probabilities(lr, vectorizer, test_rows)
        oof_pred[test_rows] = lr.classes_[p.argmax(1)]
        oof_prob[test_rows] = p.max(1)
    left = np.array([d is None for d in ruled])
    correct = oof_pred == y
    threshold, coverage, precision = _threshold(oof_prob[left], correct[left], config.target_precision)
    pipeline = np.array(
        [
            d.doc_type if d is not None else (pred if prob >= threshold else "unknown")
            for d, pred, prob in zip(ruled, oof_pred, oof_prob, strict=True)
        ]
    )

    lr, vectorizer = fit(np.arange(len(y)))
    params = ModelParams(
        classes=tuple(str(c) for c in lr.classes_),
        rule_types=taxonomy.names,
        vocabulary=tuple(vectorizer.get_feature_names_out()),
        idf=vectorizer.idf_.astype(np.float32),
        coef=lr.coef_.astype(np.float32),
        intercept=lr.intercept_.astype(np.float32),
        weights=dict(config.weights),
        threshold=threshold,
        embedder=embedder.name,
        embedding_dim=int(embeddings.shape[1]),
        meta={
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "n_train": len(y),
            "config": {k: v for k, v in asdict(config).items() if k != "weights"},
        },
    )
    return TrainingReport(
        params=params,
        n_docs=len(y),
        cv_model_macro_f1=float(f1_score(y, oof_pred.astype(str), average="macro")),
        cv_pipeline_macro_f1=float(f1_score(y, pipeline, average="macro", labels=sorted(set(y)))),
        cv_pipeline_accuracy=float(accuracy_score(y, pipeline)),
        cv_coverage=coverage,
        cv_precision=precision,
        threshold=threshold,
        seconds=time.perf_counter() - began,
    )
