"""Stage 3's real backend (transformers) on a tiny NLI-shaped model built here.

No NLI model ships with ragbot (docs/classification.md), so this proves the loading and
scoring code with a randomly initialised two-layer BERT saved to a temporary folder: the same
files a real mDeBERTa/BART MNLI download has, read with local_files_only."""

import asyncio
import threading

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

from core.backends.nli_transformers import TransformersNLI
from core.errors import BackendError, ConfigError

WORDS = (
    "this document is a an runbook faq meeting notes release postmortem policy guide restart the api".split()
)


def make_model(folder, labels=("contradiction", "entailment", "neutral")):
    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text(
        "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n", encoding="utf-8"
    )
    BertTokenizerFast(vocab_file=str(vocab)).save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(WORDS) + 5,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_model(tmp_path_factory.mktemp("nli"))


async def test_scores_are_a_distribution_over_hypotheses(model_dir):
    nli = TransformersNLI(model_dir, threads=1, max_length=48)
    await nli.start()
    hypotheses = [
        "This document is a runbook.",
        "This document is meeting notes.",
        "This document is a policy.",
    ]
    premise = "restart the api " * 40  # longer than max_length: the premise is cut, not the hypothesis

    scores = await nli.entailment(premise, hypotheses)

    assert len(scores) == 3 and sum(scores) == pytest.approx(1.0, abs=1e-5)
    assert all(0 < s < 1 for s in scores)
    assert await nli.entailment(premise, hypotheses) == scores  # deterministic (eval mode)
    assert await nli.entailment(premise, []) == []
    await nli.aclose()
    with pytest.raises(BackendError, match="not started"):
        await nli.entailment(premise, hypotheses)


async def test_the_entailment_column_is_found_by_name(model_dir, tmp_path):
    """Models order their labels differently: the same network with its output rows and label
    names permuted together must score the same."""
    model = BertForSequenceClassification.from_pretrained(model_dir)
    order = [1, 2, 0]  # entailment, neutral, contradiction
    with torch.no_grad():
        model.classifier.weight.copy_(model.classifier.weight[order].clone())
        model.classifier.bias.copy_(model.classifier.bias[order].clone())
    model.config.id2label = {0: "ENTAILMENT", 1: "NEUTRAL", 2: "CONTRADICTION"}
    model.config.label2id = {v: k for k, v in model.config.id2label.items()}
    permuted = tmp_path / "permuted"
    model.save_pretrained(permuted)
    BertTokenizerFast.from_pretrained(model_dir).save_pretrained(permuted)
    premise, hypotheses = "restart the api", ["This document is a runbook.", "This document is a policy."]

    a, b = TransformersNLI(model_dir, threads=1), TransformersNLI(permuted, threads=1)
    await a.start()
    await b.start()

    assert await b.entailment(premise, hypotheses) == pytest.approx(await a.entailment(premise, hypotheses))


async def test_not_a_model_directory(tmp_path):
    with pytest.raises(ConfigError, match="not a model directory"):
        await TransformersNLI(tmp_path / "nowhere").start()


async def test_a_classifier_without_entailment_is_refused(tmp_path):
    folder = make_model(tmp_path / "sentiment", labels=("negative", "positive"))
    with pytest.raises(ConfigError, match="no 'entailment' label"):
        await TransformersNLI(folder, threads=1).start()


class ThreadsSeen:
    """Wraps a model: records torch's thread count in the thread that runs each forward pass."""

    def __init__(self, model):
        self.model, self.seen = model, []

    def __getattr__(self, name):
        return getattr(self.model, name)

    def __call__(self, **inputs):
        self.seen.append(torch.get_num_threads())
        return self.model(**inputs)


async def _executor_threads_set_to(threads: int, count: int = 4) -> None:
    """Start ``count`` worker threads of the default executor (as the indexes and the database
    do in a running service) and give each its own torch thread count."""
    barrier = threading.Barrier(count)

    def occupy() -> None:
        torch.set_num_threads(threads)
        barrier.wait(timeout=10)

    await asyncio.gather(*(asyncio.to_thread(occupy) for _ in range(count)))


async def test_classify_nli_threads_sets_the_engines_threads(model_dir):
    """CLASSIFY_NLI_THREADS: the classifier built from the settings runs the model with that many
    torch threads (a thread count changes nothing else a test can see; torch reports its own).
    torch keeps the count per thread, and inference runs in whichever executor thread is free:
    threads started before the model was loaded, or used since by another torch model with its own
    count (the MiniLM stage with EMBEDDING_THREADS), hold another count."""
    from bot.bootstrap import build_classifier
    from bot.settings import Settings
    from core.settings import ClassifySettings

    before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            await _executor_threads_set_to(3)
            settings = Settings(
                classify=ClassifySettings(use_model=False, nli_model=str(model_dir), nli_threads=threads)
            )
            classifier = build_classifier(settings)
            await classifier.start()
            try:
                nli = classifier.nli
                nli._model = spy = ThreadsSeen(nli._model)
                await _executor_threads_set_to(3)
                for _ in range(4):
                    await nli.entailment("restart the api", ["This document is a runbook."])
                assert spy.seen and set(spy.seen) == {threads}, spy.seen
            finally:
                await classifier.aclose()
    finally:
        await _executor_threads_set_to(before)
