"""Measuring a doc_type classifier on labelled documents: accuracy, macro-F1, the confusion
matrix, the share each stage decided and its cost per document. Pure."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from core.classify.labelled import LabelledDoc
from core.classify.stages import STAGES, StagedClassifier
from core.doctypes import UNKNOWN
from core.ports import DocTypeDecision

__all__ = ["EvalReport", "evaluate", "macro_f1"]


def macro_f1(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> float:
    """F1 averaged over ``labels`` (the gold types): an ``unknown`` answer is a miss."""
    scores = []
    for label in labels:
        tp = sum(g == label and p == label for g, p in zip(gold, predicted, strict=True))
        fp = sum(g != label and p == label for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == label and p != label for g, p in zip(gold, predicted, strict=True))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores) if scores else 0.0


@dataclass(frozen=True)
class EvalReport:
    n: int
    accuracy: float
    macro_f1: float
    labels: tuple[str, ...]  # confusion rows (gold); columns are these plus "unknown"
    confusion: tuple[tuple[int, ...], ...]
    stage_share: dict[str, float]  # share of documents each stage decided
    stage_ms: dict[str, float]  # mean milliseconds per document the stage was asked about
    stage_accuracy: dict[str, float]  # accuracy of the decisions of each stage
    by_group: dict[str, dict[str, float]]  # "lang:en", "source:written" -> accuracy, macro_f1, n
    total_ms: float  # mean milliseconds per document, end to end
    errors: tuple[tuple[str, str, str, str], ...] = field(default=())  # path, gold, predicted, stage

    def as_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "labels": list(self.labels),
            "confusion": [list(r) for r in self.confusion],
            "stage_share": {k: round(v, 4) for k, v in self.stage_share.items()},
            "stage_ms": {k: round(v, 2) for k, v in self.stage_ms.items()},
            "stage_accuracy": {k: round(v, 4) for k, v in self.stage_accuracy.items()},
            "by_group": {k: {m: round(x, 4) for m, x in v.items()} for k, v in self.by_group.items()},
            "total_ms": round(self.total_ms, 2),
            "errors": [list(e) for e in self.errors],
        }


def _origin(doc: LabelledDoc) -> str:
    return "written" if doc.source.startswith("written") else "real"


async def evaluate(classifier: StagedClassifier, docs: Sequence[LabelledDoc]) -> EvalReport:
    """Classify every document (the classifier must be started) and score the answers."""
    before = (dict(classifier.stats.asked), dict(classifier.stats.seconds))
    decisions: list[DocTypeDecision] = []
    began = time.perf_counter()
    for doc in docs:
        decisions.append(
            await classifier.classify(title=doc.title, text=doc.text, source=doc.path, metadata=doc.metadata)
        )
    total = time.perf_counter() - began
    asked = {s: classifier.stats.asked[s] - before[0][s] for s in STAGES}
    seconds = {s: classifier.stats.seconds[s] - before[1][s] for s in STAGES}

    gold = [d.label for d in docs]
    predicted = [d.doc_type for d in decisions]
    labels = tuple(sorted(set(gold)))
    columns = (*labels, UNKNOWN)
    pairs = Counter(zip(gold, predicted, strict=True))
    confusion = tuple(tuple(pairs[(g, p)] for p in columns) for g in labels)
    n = len(docs)
    by_stage = Counter(d.stage for d in decisions)
    stage_accuracy = {
        s: sum(g == d.doc_type for g, d in zip(gold, decisions, strict=True) if d.stage == s) / by_stage[s]
        for s in STAGES
        if by_stage[s]
    }
    by_group: dict[str, dict[str, float]] = {}
    for key, pick in (("lang", lambda d: d.lang), ("source", _origin)):
        for value in sorted({pick(d) for d in docs}):
            rows = [i for i, d in enumerate(docs) if pick(d) == value]
            g = [gold[i] for i in rows]
            p = [predicted[i] for i in rows]
            by_group[f"{key}:{value}"] = {
                "n": len(rows),
                "accuracy": sum(a == b for a, b in zip(g, p, strict=True)) / len(rows),
                "macro_f1": macro_f1(g, p, sorted(set(g))),
            }
    return EvalReport(
        n=n,
        accuracy=sum(g == p for g, p in zip(gold, predicted, strict=True)) / n if n else 0.0,
        macro_f1=macro_f1(gold, predicted, labels),
        labels=labels,
        confusion=confusion,
        stage_share={s: by_stage[s] / n if n else 0.0 for s in STAGES},
        stage_ms={s: 1000 * seconds[s] / asked[s] for s in STAGES if asked[s] and s != "fallback"},
        stage_accuracy=stage_accuracy,
        by_group=by_group,
        total_ms=1000 * total / n if n else 0.0,
        errors=tuple(
            (doc.path, g, d.doc_type, d.stage)
            for doc, g, d in zip(docs, gold, decisions, strict=True)
            if g != d.doc_type
        ),
    )
