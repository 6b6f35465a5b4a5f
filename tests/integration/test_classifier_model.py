"""The shipped doc_type model with the real MiniLM encoder, measured on the held-out split, and
`ragbot classify train` rebuilding it. Slow: loads MiniLM and embeds ~190 documents."""

import pytest

from bot.bootstrap import build_classifier, train_classifier
from bot.settings import Settings
from core.classify.evaluation import evaluate
from core.classify.labelled import DEFAULT_LABELS, load_labelled
from core.classify.model_files import SHIPPED_MODEL, model_path, user_model_path

pytestmark = pytest.mark.slow


async def test_shipped_model_on_the_held_out_split(tmp_path):
    settings = Settings(data_dir=tmp_path)
    assert model_path(settings) == SHIPPED_MODEL
    classifier = build_classifier(settings)
    await classifier.start()
    try:
        report = await evaluate(classifier, load_labelled(split="test"))
    finally:
        await classifier.aclose()
    assert report.macro_f1 >= 0.85 and report.accuracy >= 0.85
    assert report.stage_share["rules"] > 0.2 and report.stage_share["model"] > 0.3
    assert report.stage_share["nli"] == 0  # no NLI model configured
    assert report.by_group["lang:ru"]["macro_f1"] >= 0.8  # MiniLM is English-only; the mix carries Russian


async def test_retrained_model_is_written_under_data_dir_and_wins(tmp_path):
    settings = Settings(data_dir=tmp_path)
    out = user_model_path(settings)
    report = await train_classifier(settings, DEFAULT_LABELS, out)
    assert out.is_file() and model_path(settings) == out
    assert report.cv_pipeline_macro_f1 >= 0.85

    classifier = build_classifier(settings)
    await classifier.start()
    try:
        # no rule fires on this one: the model decides
        decision = await classifier.classify(
            title="Upgrade discussion",
            text="Present: Ana, Ben, Chen.\n\nWe discussed the database upgrade. Ben thinks June is too early.\n\n"
            "Agreed: upgrade in July. Ben writes the plan by Friday; next meeting on the 20th.",
            source="notes/upgrade.md",
            metadata={},
        )
    finally:
        await classifier.aclose()
    assert (decision.doc_type, decision.stage) == ("meeting_notes", "model")
