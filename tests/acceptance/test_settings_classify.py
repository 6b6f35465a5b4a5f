"""The document type classifier's settings (docs/classification.md), seen through
`ragbot classify --json`: which stage decided a document's type, and with what confidence.
CLASSIFY_TAXONOMY_FILE has its own journey in test_pins_and_types.py.

The notes below carry no cue the rules know (no telling file name, folder, title or front
matter), so the rules pass them on: the model stage decides, unless a setting says otherwise."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from acceptance_harness import REPO, Deployment, json_lines

NOTES = """# Friday sync

Attendees: Anna, Boris, Chen. We discussed the migration timeline and agreed to move the cutover
to next Tuesday. Action items: Anna drafts the announcement, Boris checks the replica lag, Chen
books the maintenance window. Next sync on Friday.
"""
SHIPPED_MODEL = REPO / "core" / "data" / "classify" / "doctype_model.npz"


def nli_model(folder: Path) -> Path:
    """A zero-shot NLI model with random weights, saved as a downloaded MNLI model is (none can be
    downloaded here: docs/classification.md); tests/unit/test_classify_nli.py builds the same."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    words = sorted(
        {w.lower().strip(".,:#") for w in NOTES.split()} | set("this document is a an the".split())
    )
    folder.mkdir(parents=True)
    (folder / "vocab.txt").write_text(
        "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n"
    )
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    labels = ("contradiction", "entailment", "neutral")
    config = BertConfig(
        vocab_size=len(words) + 5,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=512,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)
    return folder


async def test_the_classifier_stages_follow_their_settings(team: Deployment, tmp_path: Path) -> None:
    (team.root / "notes.md").write_text(NOTES, encoding="utf-8")
    own_copy = shutil.copy(SHIPPED_MODEL, tmp_path / "our-doctype-model.npz")
    nli = str(nli_model(tmp_path / "nli"))
    variants = {
        "default": {},
        "rules only": {"CLASSIFY_USE_MODEL": "false"},
        "strict": {"CLASSIFY_MIN_CONFIDENCE": "0.99"},
        "model file": {"CLASSIFY_MODEL_FILE": str(own_copy)},
        "nli": {"CLASSIFY_USE_MODEL": "false", "CLASSIFY_NLI_MODEL": nli, "CLASSIFY_NLI_MIN_CONFIDENCE": "0"},
        "nli strict": {
            "CLASSIFY_USE_MODEL": "false",
            "CLASSIFY_NLI_MODEL": nli,
            "CLASSIFY_NLI_MIN_CONFIDENCE": "1",
        },
    }
    results = await asyncio.gather(
        *(team.ok("classify", "--json", "notes.md", env=env) for env in variants.values())
    )
    decided = {name: json_lines(r.out)[0] for name, r in zip(variants, results, strict=True)}
    logs = {name: r.err for name, r in zip(variants, results, strict=True)}

    assert decided["default"]["stage"] == "model", decided  # CLASSIFY_USE_MODEL=true
    assert decided["default"]["doc_type"] == "meeting_notes", decided
    assert "path=" + str(SHIPPED_MODEL) in logs["default"]
    assert decided["rules only"]["stage"] == "fallback", decided
    # the model's answer is below the confidence asked for: no type
    assert decided["default"]["confidence"] < 0.99
    assert (decided["strict"]["stage"], decided["strict"]["doc_type"]) == ("fallback", "unknown"), decided
    # CLASSIFY_MODEL_FILE: this file is the model read
    assert f"doctype model loaded path={own_copy} " in logs["model file"], logs["model file"]
    assert decided["model file"]["stage"] == "model"

    assert decided["nli"]["stage"] == "nli", decided  # the rules and no model stage: NLI decides
    assert f"nli started model={nli}" in logs["nli"]
    assert decided["nli strict"]["stage"] == "fallback", decided
