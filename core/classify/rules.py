"""Stage 1: rules over a document's file name, folders, title, headings and front matter.

Pure and cheap (about 3 ms a document). A rule decides only when it is confident: a strong
cue for one type and nothing comparable for any other. Everything else goes to the model, which
also reads the rule evidence as features (``RuleSet.features``), so a weak cue still counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from core.classify.taxonomy import Taxonomy
from core.classify.view import DocView
from core.ports import DocTypeDecision

__all__ = ["RuleSet", "Evidence", "STRONG_KINDS", "WEIGHTS"]

# Points per kind of cue. A title or a file name alone is enough to decide (3); a folder, a
# heading or a front-matter tag needs company. Headings count once per distinct cue, at most twice.
WEIGHTS = {"filename": 3.0, "path": 2.0, "title": 3.0, "front_matter": 3.0, "heading": 1.0}
STRONG_KINDS = tuple(WEIGHTS)
_HEADING_CAP = 2
_DECIDE_AT = 3.0  # points the best type needs
_MARGIN = 2.0  # and its lead over the runner-up
_KEYWORD_CAP = 20  # keyword hits counted per type (features only)


@dataclass(frozen=True)
class Evidence:
    """How strongly each type's cues matched one document."""

    points: dict[str, float]  # type -> rule points
    hits: dict[str, dict[str, int]]  # type -> cue kind -> number of matches

    def best(self) -> tuple[str | None, float, float]:
        """(best type, its points, the runner-up's points)."""
        ranked = sorted(self.points.items(), key=lambda kv: kv[1], reverse=True)
        if not ranked or ranked[0][1] <= 0:
            return None, 0.0, 0.0
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        return ranked[0][0], ranked[0][1], runner_up


def _compile(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p, re.IGNORECASE) for p in patterns)


class RuleSet:
    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy
        self._cues = {
            t.name: {kind: _compile(t.cues.patterns(kind)) for kind in (*STRONG_KINDS, "keywords")}
            for t in taxonomy.types
        }

    def evidence(self, view: DocView) -> Evidence:
        points: dict[str, float] = {}
        hits: dict[str, dict[str, int]] = {}
        for name, cues in self._cues.items():
            h = {
                "filename": int(any(p.search(view.filename) for p in cues["filename"]))
                if view.filename
                else 0,
                "path": int(any(p.search(f) for f in view.folders for p in cues["path"])),
                "title": int(any(p.search(view.title) for p in cues["title"])) if view.title else 0,
                "front_matter": int(any(p.search(view.front_matter) for p in cues["front_matter"]))
                if view.front_matter
                else 0,
                "heading": sum(1 for p in cues["heading"] if any(p.match(hd) for hd in view.headings)),
                "keywords": min(_KEYWORD_CAP, sum(len(p.findall(view.head)) for p in cues["keywords"])),
            }
            hits[name] = h
            points[name] = sum(
                WEIGHTS[k] * (min(h[k], _HEADING_CAP) if k == "heading" else h[k]) for k in STRONG_KINDS
            )
        return Evidence(points, hits)

    def decide(self, view: DocView, evidence: Evidence | None = None) -> DocTypeDecision | None:
        """A decision when the cues are unambiguous, else None (the model decides)."""
        best, top, runner_up = (evidence or self.evidence(view)).best()
        if best is None or top < _DECIDE_AT or top - runner_up < _MARGIN:
            return None
        # Fixed confidences by strength of evidence: the share of rule decisions that were right
        # on the labelled training split was 1.0 at every level (docs/classification.md).
        confidence = 0.9 if top < 4 else 0.95 if top < 6 else 0.98
        return DocTypeDecision(best, "rules", confidence)

    def features(self, evidence: Evidence) -> np.ndarray:
        """Per type: filename, path, title, front matter, headings (capped) and keyword density."""
        rows = []
        for name in self.taxonomy.names:
            h = evidence.hits[name]
            rows.append(
                [
                    h["filename"],
                    h["path"],
                    h["title"],
                    h["front_matter"],
                    min(h["heading"], _HEADING_CAP) / _HEADING_CAP,
                    np.log1p(h["keywords"]) / np.log1p(_KEYWORD_CAP),
                ]
            )
        return np.asarray(rows, dtype=np.float32).ravel()
