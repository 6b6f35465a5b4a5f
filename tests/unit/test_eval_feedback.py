"""`ragbot eval feedback` and `ragbot eval verified` on small sets over the fakes: the halves,
the simulated votes through the real path, the scores, and nothing left behind."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from core.errors import InvalidInput
from core.eval.dataset import load_eval_set
from core.eval.feedback import SIMULATED, Setting, evaluate_feedback, split_halves
from core.eval.retrieval import eval_space_id, index_eval_set
from core.eval.verified import evaluate_thresholds, load_pairs
from core.testing.fake_service import make_service
from core.testing.hash_embedder import HashEmbedder

TOPICS = ["vpn", "backups", "keys", "oncall", "deploys", "certificates", "quotas", "alerts"]


def _write_set(root: Path) -> Path:
    root.mkdir()
    corpus, queries, qrels = [], [], ["query_id\tdoc_id\trelevance"]
    for i, topic in enumerate(TOPICS):
        for variant in ("howto", "faq"):
            corpus.append(
                {"id": f"{topic}-{variant}", "title": topic, "text": f"The {topic} {variant}: {topic} " * 20}
            )
        for lang, text in (("en", f"How do {topic} work?"), ("ru", f"Как работают {topic}?")):
            queries.append({"id": f"{lang}-q{i}", "text": text, "lang": lang})
            qrels.append(f"{lang}-q{i}\t{topic}-faq\t1")
    (root / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in corpus), encoding="utf-8")
    (root / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries), encoding="utf-8")
    (root / "qrels.tsv").write_text("\n".join(qrels) + "\n", encoding="utf-8")
    return root


def test_a_question_and_its_translation_fall_in_the_same_half(tmp_path):
    eval_set = load_eval_set(_write_set(tmp_path / "set"))
    train, test = split_halves(eval_set.queries)
    assert train and test and len(train) + len(test) == len(eval_set.queries)
    for half in (train, test):
        assert set(Counter(q.query_id[3:] for q in half).values()) == {2}  # English and Russian
    assert split_halves(eval_set.queries) == (train, test)  # stable


async def test_simulated_votes_move_the_training_half_and_leave_nothing_behind(tmp_path):
    eval_set = load_eval_set(_write_set(tmp_path / "set"))
    service = make_service()
    await index_eval_set(service, eval_set)

    run = await evaluate_feedback(service, eval_set, [Setting("chunk", 2.0), Setting("chunk", 2.0, None)])

    assert set(run.ndcg) == {"1", "2"}
    assert sum(v["up"] + v["down"] for v in run.votes.values()) == len(eval_set.queries)
    names = {"none", "chunk x2 similar >0.8", "chunk x2 any question"}
    assert set(run.ndcg["1"]["test"]) == set(run.ndcg["1"]["train"]) == names
    # a question asked again is helped by its own votes (a topic's two pages nearly tie here)
    assert run.mean("train", "chunk x2 similar >0.8") > run.mean("train", "none")
    assert run.queries["train"] and run.queries["test"]
    space = eval_space_id(eval_set)
    assert (await service.feedback_stats(space)).answers == 0
    assert await service.store.chunk_votes(space) == []
    assert service.retriever.settings.feedback_weight == 0.5  # restored
    assert (await service.forget_user(SIMULATED.platform, SIMULATED.user_id)).answers == 0


async def test_thresholds_on_labelled_pairs(tmp_path):
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text(
        "kind\tsame\tquestion\tother\n"
        "same-en\t1\tHow do I rotate the keys?\thow do i rotate the keys\n"
        "same-en\t0\tHow do I rotate the keys?\tWhere are the backups kept?\n"
        "same-ru\t1\tКак повернуть ключи?\tкак повернуть ключи\n"
        "cross\t0\tHow do I rotate the keys?\tГде хранятся бэкапы?\n",
        encoding="utf-8",
    )
    rows = await evaluate_thresholds(HashEmbedder(), load_pairs(pairs), [0.5, 1.0])
    by = {(r.threshold, r.kind): r for r in rows}
    assert (by[0.5, "same-en"].recall, by[0.5, "same-en"].false_match_rate) == (1.0, 0.0)
    assert by[0.5, "same-ru"].recall == 1.0
    assert by[0.5, "cross"].false_match_rate == 0.0


def test_a_malformed_pairs_file_is_refused_with_the_line(tmp_path):
    bad = tmp_path / "pairs.tsv"
    bad.write_text("kind\tsame\tquestion\tother\nsame-en\tyes\ta\tb\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="line 2"):
        load_pairs(bad)
    with pytest.raises(InvalidInput, match="not a file"):
        load_pairs(tmp_path / "missing.tsv")
