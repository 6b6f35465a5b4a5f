"""How similar must a new question be to a verified question to be answered from it?

Measured on labelled pairs (``tests/data/verified/pairs.tsv``: ``kind``, ``same``, ``question``,
``other``; kind ``same-en`` / ``same-ru`` for two questions in one language, ``cross`` for one in
each): both questions are embedded as the matcher embeds them (``core/answer/verified.py``) and,
for each threshold, a pair counts as matched when its cosine reaches it. Per kind: recall (the
share of same-question pairs matched) and the false match rate (the share of different-question
pairs matched, which would serve a wrong verified answer)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import InvalidInput
from core.ports import Embedder

__all__ = ["LabelledPair", "ThresholdRow", "load_pairs", "evaluate_thresholds", "KINDS"]

KINDS = ("same-en", "same-ru", "cross")


@dataclass(frozen=True)
class LabelledPair:
    kind: str
    same: bool
    question: str
    other: str


@dataclass(frozen=True)
class ThresholdRow:
    threshold: float
    kind: str
    recall: float
    false_match_rate: float
    precision: float  # at this set's ratio of same to different pairs

    def to_json(self) -> dict:
        return {
            "threshold": self.threshold,
            "kind": self.kind,
            "recall": round(self.recall, 4),
            "false_match_rate": round(self.false_match_rate, 4),
            "precision": round(self.precision, 4),
        }


def load_pairs(path: str | Path) -> list[LabelledPair]:
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"{path} is not a file of labelled question pairs.")
    pairs = []
    with path.open(encoding="utf-8") as f:
        for n, row in enumerate(csv.DictReader(f, delimiter="\t"), start=2):
            try:
                kind, same = row["kind"], row["same"]
                if kind not in KINDS or same not in ("0", "1") or not row["question"] or not row["other"]:
                    raise ValueError
            except (KeyError, ValueError):
                raise InvalidInput(
                    f"{path.name} line {n}: expected kind (same-en, same-ru, cross), same (0 or 1), "
                    "question and other, separated by tabs."
                ) from None
            pairs.append(LabelledPair(kind, same == "1", row["question"], row["other"]))
    if not pairs:
        raise InvalidInput(f"{path.name} holds no pairs.")
    return pairs


async def evaluate_thresholds(
    embedder: Embedder, pairs: list[LabelledPair], thresholds: list[float]
) -> list[ThresholdRow]:
    texts = sorted({t for p in pairs for t in (p.question, p.other)})
    vectors = {t: await embedder.embed_query(t) for t in texts}
    similarity = [(p, float(np.dot(vectors[p.question], vectors[p.other]))) for p in pairs]
    rows = []
    for threshold in thresholds:
        for kind in KINDS:
            same = [s for p, s in similarity if p.kind == kind and p.same]
            different = [s for p, s in similarity if p.kind == kind and not p.same]
            hits = sum(s >= threshold for s in same)
            false = sum(s >= threshold for s in different)
            rows.append(
                ThresholdRow(
                    threshold,
                    kind,
                    hits / len(same) if same else 0.0,
                    false / len(different) if different else 0.0,
                    hits / (hits + false) if hits + false else 1.0,
                )
            )
    return rows
