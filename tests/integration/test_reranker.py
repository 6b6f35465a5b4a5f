"""RETRIEVAL_RERANK: the fused candidates come back in a cross-encoder's order, read from a local
model directory; asked for without a model, the service refuses to start instead of ranking
without it.

No cross-encoder's weights can be installed on this machine (docs/retrieval.md), so the test
builds a small one with random weights in a temporary folder, in the format a downloaded
model has (config.json, weights, tokenizer files), and checks the order against the same model's
scores computed here with transformers directly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    BertTokenizerFast,
)

from bot.bootstrap import build_reranker
from bot.settings import Settings
from core.backends.cross_encoder import CrossEncoderReranker
from core.errors import ConfigError
from core.settings import RetrievalSettings
from core.testing.fake_service import make_service

pytestmark = pytest.mark.slow

DOCS = {
    "deploy.md": "# Deploying\n\nRun make deploy from the release branch after the on-call approves.\n",
    "rollback.md": "# Rolling back\n\nRun make rollback to return to the previous release of the service.\n",
    "keys.md": "# API keys\n\nRotate the API keys every quarter with the vault rotate command.\n",
    "oncall.md": "# On call\n\nThe on-call engineer approves deploys and answers pages within minutes.\n",
}
QUESTION = "how do I deploy or roll back the service release"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cross-encoder")
    words = sorted({w.lower().strip(".#") for text in [*DOCS.values(), QUESTION] for w in text.split()})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(7)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=128,
        num_labels=1,
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    return folder


def model_scores(model_dir: Path, query: str, passages: list[str]) -> list[float]:
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, local_files_only=True).eval()
    with torch.inference_mode():
        encoded = tokenizer([query] * len(passages), passages, padding=True, return_tensors="pt")
        return [float(x) for x in model(**encoded).logits[:, 0]]


async def test_the_fused_candidates_come_back_in_the_cross_encoders_order(
    model_dir: Path, tmp_path: Path
) -> None:
    for name, text in DOCS.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    plain = make_service(retrieval=RetrievalSettings(top_k=4))
    reranker = CrossEncoderReranker(model_dir, candidates=10)
    reranked = make_service(retrieval=RetrievalSettings(top_k=4, rerank=True), reranker=reranker)
    for service in (plain, reranked):
        await service.start()
        assert (await service.ingest("ops", [str(tmp_path)])).ok
    try:
        fused = (await plain.search(QUESTION, "ops")).hits
        result = await reranked.search(QUESTION, "ops")
    finally:
        await plain.aclose()
        await reranked.aclose()

    scores = model_scores(model_dir, QUESTION, [h.chunk.passage for h in fused])
    by_model = [h.chunk.doc_id for _, h in sorted(zip(scores, fused, strict=True), key=lambda p: -p[0])]
    assert [h.chunk.doc_id for h in result.hits] == by_model
    assert by_model != [h.chunk.doc_id for h in fused], "the model must reorder for the test to mean much"
    assert "rerank" in result.stage_seconds
    assert [h.score for h in result.hits] == pytest.approx(sorted(scores, reverse=True), abs=1e-4)


def test_rerank_without_a_model_refuses_to_start() -> None:
    settings = Settings(retrieval=RetrievalSettings(rerank=True))
    with pytest.raises(ConfigError, match="RETRIEVAL_RERANK_MODEL"):
        build_reranker(settings)
    assert build_reranker(Settings(retrieval=RetrievalSettings(rerank=False))) is None


async def test_a_folder_that_is_not_a_model_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a model directory"):
        await CrossEncoderReranker(tmp_path).start()
