"""doc_type classification: rules -> MiniLM + logistic regression -> zero-shot NLI, cheapest first.

Pure: the taxonomy, the document view, the rules and the staged classifier over two ports
(``TypeModel``, ``ZeroShotNLI``). The engines behind the ports are in ``core.backends``
(``doctype_model``, ``nli_transformers``); ``bot.bootstrap.build_classifier`` wires them from settings.
"""

from core.classify.rules import RuleSet
from core.classify.stages import STAGES, StagedClassifier, StageStats, TypeModel, ZeroShotNLI
from core.classify.taxonomy import Taxonomy, TypeSpec, default_taxonomy, load_taxonomy

__all__ = [
    "RuleSet",
    "STAGES",
    "StagedClassifier",
    "StageStats",
    "TypeModel",
    "ZeroShotNLI",
    "Taxonomy",
    "TypeSpec",
    "default_taxonomy",
    "load_taxonomy",
]
