"""Stage 2 without the real encoder: the same training, file format and prediction code, with
the deterministic hash embedder standing in for MiniLM (tests/integration has the real one)."""

import asyncio
from dataclasses import replace

import numpy as np
import pytest

from core.backends.doctype_model import (
    DocTypeModel,
    TrainingConfig,
    load_params,
    save_params,
    train_doctype_model,
)
from core.classify.labelled import load_labelled
from core.classify.rules import RuleSet
from core.classify.taxonomy import default_taxonomy
from core.classify.view import view_of
from core.errors import ConfigError
from core.testing.hash_embedder import HashEmbedder


@pytest.fixture(scope="module")
def train_docs():
    return load_labelled(split="train")


@pytest.fixture(scope="module")
def trained(train_docs, tmp_path_factory):
    embedder = HashEmbedder(dim=64)
    # trained once for the module (a sync fixture: async ones cannot outlive a test's event loop)
    report = asyncio.run(
        train_doctype_model(
            train_docs, default_taxonomy(), embedder, TrainingConfig(folds=3, max_features=8000)
        )
    )
    path = tmp_path_factory.mktemp("model") / "doctype_model.npz"
    save_params(report.params, path)
    return report, path


def test_labelled_set_has_every_type_in_both_languages(train_docs):
    held_out = load_labelled(split="test")
    for split in (train_docs, held_out):
        seen = {(d.label, d.lang) for d in split}
        assert seen == {(t, lang) for t in default_taxonomy().names for lang in ("en", "ru")}
    # a document and its translation never sit on both sides of the split
    assert not {d.group for d in train_docs} & {d.group for d in held_out}
    assert all(d.licence and d.source for d in train_docs + held_out)


def test_training_report_is_out_of_fold(trained, train_docs):
    report, _ = trained
    assert report.n_docs == len(train_docs)
    assert 0 < report.cv_model_macro_f1 <= 1 and 0 < report.cv_pipeline_macro_f1 <= 1
    assert 0.2 <= report.threshold <= 0.95
    assert report.cv_precision >= 0.9 or report.threshold == 0.95


def test_saved_model_round_trips(trained):
    report, path = trained
    loaded = load_params(path)
    assert loaded.classes == report.params.classes == tuple(sorted(default_taxonomy().names))
    assert loaded.vocabulary == report.params.vocabulary
    np.testing.assert_allclose(loaded.coef, report.params.coef)
    np.testing.assert_allclose(loaded.idf, report.params.idf)
    assert loaded.threshold == report.threshold and loaded.embedder == "hash-64"


async def test_prediction_reproduces_the_fitted_model(trained, train_docs):
    """predict() recomputes features and the softmax by hand from the file: on the documents
    it was fitted on it must agree with the labels nearly always (a wrong column order, idf or
    softmax would make it guess)."""
    _, path = trained
    model = DocTypeModel(path, HashEmbedder(dim=64))
    await model.start()
    rules = RuleSet(default_taxonomy())
    right = 0
    for doc in train_docs:
        view = view_of(title=doc.title, text=doc.text, source=doc.path, metadata=doc.metadata)
        p = await model.predict(view, rules.evidence(view))
        assert sum(p.values()) == pytest.approx(1.0, abs=1e-5)
        right += max(p, key=p.get) == doc.label
    assert right / len(train_docs) >= 0.95
    await model.aclose()


async def test_model_refuses_another_encoder(trained):
    _, path = trained
    with pytest.raises(ConfigError, match="trained with the hash-64 encoder"):
        await DocTypeModel(path, HashEmbedder(dim=32)).start()


def test_broken_or_foreign_model_files(tmp_path, trained):
    with pytest.raises(ConfigError, match="Cannot load the doc_type model"):
        load_params(tmp_path / "missing.npz")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match="ragbot classify train"):
        load_params(garbage)


async def test_labels_outside_the_taxonomy_are_refused(train_docs):
    docs = [replace(train_docs[0], label="wiki_page"), *train_docs[1:]]
    with pytest.raises(ConfigError, match="wiki_page"):
        await train_doctype_model(docs, default_taxonomy(), HashEmbedder())
