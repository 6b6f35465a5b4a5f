"""The ports of the later stages, and the classifier that runs the stages cheapest first.

1. rules (``core.classify.rules``): pure, a few ms; decides only when unambiguous;
2. a trained model (``TypeModel``: MiniLM embeddings + character n-grams + rule evidence ->
   logistic regression, in ``core.backends.doctype_model``); decides above its threshold;
3. zero-shot NLI (``ZeroShotNLI``), asked only about documents still ``unknown`` and only when
   a model is configured.

What no stage decides is ``unknown`` with stage ``fallback``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from core.classify.rules import Evidence, RuleSet
from core.classify.taxonomy import Taxonomy
from core.classify.view import DocView, view_of
from core.doctypes import UNKNOWN
from core.ports import DocTypeDecision, Lifecycle

__all__ = ["TypeModel", "ZeroShotNLI", "StagedClassifier", "StageStats", "STAGES", "nli_premise"]

log = logging.getLogger(__name__)

STAGES = ("rules", "model", "nli", "fallback")
_PREMISE_CHARS = 1200


class TypeModel(Lifecycle, Protocol):
    """Stage 2: probabilities over the types it was trained on."""

    name: str
    threshold: float  # the confidence below which its answer is "unknown", tuned at training

    async def predict(self, view: DocView, evidence: Evidence) -> Mapping[str, float]: ...


class ZeroShotNLI(Lifecycle, Protocol):
    """Stage 3: how strongly ``premise`` entails each hypothesis, as probabilities over the
    hypotheses (one label per document: they sum to 1)."""

    name: str

    async def entailment(self, premise: str, hypotheses: Sequence[str]) -> list[float]: ...


@dataclass
class StageStats:
    """Per stage: documents it was asked about, documents it decided, seconds spent."""

    asked: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STAGES, 0))
    decided: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STAGES, 0))
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))

    def add(self, stage: str, seconds: float, decided: bool) -> None:
        self.asked[stage] += 1
        self.decided[stage] += int(decided)
        self.seconds[stage] += seconds


def nli_premise(view: DocView) -> str:
    """What the NLI model reads: the title and the start of the text."""
    return f"{view.raw_title}\n{view.raw_head[:_PREMISE_CHARS]}".strip()


def _hypothesis(name: str, hypothesis: str, description: str) -> str:
    return f"This document is {hypothesis or description or name.replace('_', ' ')}."


class StagedClassifier:
    """A ``DocTypeClassifier``: rules, then the model, then NLI for what is still unknown."""

    def __init__(
        self,
        taxonomy: Taxonomy,
        *,
        model: TypeModel | None = None,
        nli: ZeroShotNLI | None = None,
        min_confidence: float | None = None,
        nli_min_confidence: float = 0.5,
    ) -> None:
        self.taxonomy = taxonomy
        self.rules = RuleSet(taxonomy)
        self.model = model
        self.nli = nli
        self._min_confidence = min_confidence
        self.nli_min_confidence = nli_min_confidence
        self.stats = StageStats()
        self._names = set(taxonomy.names)
        self._hypotheses = [_hypothesis(t.name, t.hypothesis, t.description) for t in taxonomy.types]

    @property
    def min_confidence(self) -> float:
        if self._min_confidence is not None:
            return self._min_confidence
        return self.model.threshold if self.model is not None else 1.0

    async def start(self) -> None:
        for stage in (self.model, self.nli):
            if stage is not None:
                await stage.start()
        log.info(
            "classifier started types=%d model=%s nli=%s min_confidence=%.2f",
            len(self._names),
            self.model.name if self.model else "-",
            self.nli.name if self.nli else "-",
            self.min_confidence,
        )

    async def aclose(self) -> None:
        for stage in (self.model, self.nli):
            if stage is not None:
                await stage.aclose()

    async def classify(
        self, *, title: str, text: str, source: str, metadata: Mapping[str, str]
    ) -> DocTypeDecision:
        began = time.perf_counter()
        view = view_of(title=title, text=text, source=source, metadata=metadata)
        evidence = self.rules.evidence(view)
        decision = self.rules.decide(view, evidence)
        self.stats.add("rules", time.perf_counter() - began, decision is not None)
        if decision is not None:
            return self._log(source, decision)
        best_confidence = 0.0
        if self.model is not None:
            began = time.perf_counter()
            probabilities = await self.model.predict(view, evidence)
            # types the deployment's taxonomy no longer has are not answers
            name, p = max(
                ((n, p) for n, p in probabilities.items() if n in self._names),
                default=(UNKNOWN, 0.0),
                key=lambda kv: kv[1],
            )
            decided = p >= self.min_confidence
            self.stats.add("model", time.perf_counter() - began, decided)
            if decided:
                return self._log(source, DocTypeDecision(name, "model", round(p, 4)))
            best_confidence = p
        if self.nli is not None:
            began = time.perf_counter()
            scores = await self.nli.entailment(nli_premise(view), self._hypotheses)
            i = max(range(len(scores)), key=scores.__getitem__)
            decided = scores[i] >= self.nli_min_confidence
            self.stats.add("nli", time.perf_counter() - began, decided)
            if decided:
                return self._log(
                    source, DocTypeDecision(self.taxonomy.types[i].name, "nli", round(scores[i], 4))
                )
        self.stats.add("fallback", 0.0, True)
        return self._log(source, DocTypeDecision(UNKNOWN, "fallback", round(best_confidence, 4)))

    @staticmethod
    def _log(source: str, decision: DocTypeDecision) -> DocTypeDecision:
        log.debug(
            "classified source=%s doc_type=%s stage=%s confidence=%.3f",
            source,
            decision.doc_type,
            decision.stage,
            decision.confidence,
        )
        return decision
