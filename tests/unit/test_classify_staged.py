"""The staged classifier: rules, then the model, then NLI only for what is still unknown.

The model and NLI stages are deterministic fakes behind the real ports; they record what they
were asked, so the tests can prove which stages ran."""

import math
import re
from collections.abc import Mapping, Sequence

import pytest

from core.classify.rules import Evidence
from core.classify.stages import StagedClassifier, nli_premise
from core.classify.taxonomy import default_taxonomy
from core.classify.view import DocView, view_of


class FakeModel:
    """Answers from the document title: {"title": {"type": p}}; anything else is uniform."""

    name = "fake-model"

    def __init__(self, answers: Mapping[str, Mapping[str, float]], threshold: float = 0.5) -> None:
        self.answers = answers
        self.threshold = threshold
        self.asked: list[str] = []
        self.started = False

    async def start(self) -> None:
        self.started = True

    async def aclose(self) -> None:
        self.started = False

    async def predict(self, view: DocView, evidence: Evidence) -> Mapping[str, float]:
        assert isinstance(evidence, Evidence)
        self.asked.append(view.raw_title)
        names = default_taxonomy().names
        return self.answers.get(view.raw_title, {n: 1 / len(names) for n in names})


class KeywordNLI:
    """Entailment by word overlap between premise and hypothesis, softmaxed over hypotheses."""

    name = "keyword-nli"

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    async def entailment(self, premise: str, hypotheses: Sequence[str]) -> list[float]:
        self.asked.append(premise)
        words = set(re.findall(r"\w+", premise.lower()))
        stop = {"this", "document", "is", "a", "an", "of", "from", "the"}
        logits = [3.0 * len((set(re.findall(r"\w+", h.lower())) - stop) & words) for h in hypotheses]
        z = [math.exp(v - max(logits)) for v in logits]
        return [v / sum(z) for v in z]


def classifier(model=None, nli=None, **kw):
    return StagedClassifier(default_taxonomy(), model=model, nli=nli, **kw)


async def classify(c, title, text="Plain text without cues.", source="doc.md", metadata=None):
    return await c.classify(title=title, text=text, source=source, metadata=metadata or {})


async def test_stage3_never_runs_for_documents_an_earlier_stage_classified():
    model = FakeModel({"Redis notes": {"runbook": 0.9, "faq": 0.1}})
    nli = KeywordNLI()
    c = classifier(model, nli)
    await c.start()

    by_rules = await classify(c, "Postmortem: API outage", source="ops/outage.md")
    by_model = await classify(c, "Redis notes")

    assert (by_rules.doc_type, by_rules.stage) == ("postmortem", "rules")
    assert (by_model.doc_type, by_model.stage, by_model.confidence) == ("runbook", "model", 0.9)
    assert model.asked == ["Redis notes"]  # rules decided the first: the model never saw it
    assert nli.asked == []  # and NLI saw neither
    assert c.stats.asked["nli"] == 0 and c.stats.decided == {"rules": 1, "model": 1, "nli": 0, "fallback": 0}


async def test_nli_is_asked_only_when_the_model_is_unsure():
    model = FakeModel({}, threshold=0.5)  # uniform: 1/8 < 0.5
    nli = KeywordNLI()
    c = classifier(model, nli)
    text = "These are notes from a meeting with the vendor. We talked about prices."

    decision = await classify(c, "Vendor call", text)

    assert (decision.doc_type, decision.stage) == ("meeting_notes", "nli")
    assert 0.5 <= decision.confidence <= 1
    assert model.asked == ["Vendor call"] and len(nli.asked) == 1
    assert nli.asked[0].startswith("Vendor call\nThese are notes")


async def test_nobody_sure_means_unknown():
    c = classifier(FakeModel({}), KeywordNLI(), nli_min_confidence=0.9)
    decision = await classify(c, "Lunch menu", "Soup and salad.")
    assert (decision.doc_type, decision.stage) == ("unknown", "fallback")
    assert decision.confidence == pytest.approx(1 / 8, abs=1e-4)  # the model's best guess, for the record
    assert c.stats.asked == {"rules": 1, "model": 1, "nli": 1, "fallback": 1}


async def test_without_nli_an_unsure_model_gives_unknown():
    model = FakeModel({"Mixed": {"faq": 0.45, "howto": 0.55}}, threshold=0.6)
    c = classifier(model)
    decision = await classify(c, "Mixed")
    assert (decision.doc_type, decision.stage) == ("unknown", "fallback")


async def test_min_confidence_setting_overrides_the_models_threshold():
    model = FakeModel({"Mixed": {"faq": 0.45, "howto": 0.55}}, threshold=0.6)
    c = classifier(model, min_confidence=0.5)
    assert (await classify(c, "Mixed")).doc_type == "howto"


async def test_rules_only():
    c = classifier()
    assert (await classify(c, "FAQ", source="docs/FAQ.md")).stage == "rules"
    assert (await classify(c, "Something")).doc_type == "unknown"


async def test_types_outside_the_taxonomy_are_no_answer():
    # a model trained on a type the deployment's taxonomy dropped
    model = FakeModel({"Old": {"wiki_page": 0.8, "faq": 0.2}}, threshold=0.5)
    c = classifier(model)
    assert (await classify(c, "Old")).doc_type == "unknown"


async def test_lifecycle_starts_and_closes_the_stages():
    model = FakeModel({})
    c = classifier(model, KeywordNLI())
    await c.start()
    assert model.started
    await c.aclose()
    assert not model.started


def test_premise_is_the_title_and_the_start_of_the_text():
    view = view_of(title="Title", text="x" * 5000, source="a.md", metadata={})
    premise = nli_premise(view)
    assert premise.startswith("Title\nxxx") and len(premise) < 1500
