from core.models import Chunk, ScoredChunk
from core.retrieval.fusion import dedupe, rrf, zscore


def _c(name: str, text: str | None = None) -> Chunk:
    return Chunk("s", name, "v1", 0, name, (), text or f"text of {name}", f"/{name}")


def _list(*pairs):
    return [ScoredChunk(_c(n), s) for n, s in pairs]


def test_rrf_rewards_agreement_and_records_ranks():
    dense = _list(("a", 0.9), ("b", 0.8), ("c", 0.7))
    bm25 = _list(("b", 12.0), ("d", 11.0), ("a", 3.0))
    hits = rrf({"dense": dense, "bm25": bm25}, k=60)
    assert [h.chunk.doc_id for h in hits][:2] == ["b", "a"]  # both lists found them
    assert hits[0].ranks == {"dense": 2, "bm25": 1}
    assert {h.chunk.doc_id for h in hits} == {"a", "b", "c", "d"}


def test_rrf_weights_shift_the_order():
    dense = _list(("a", 0.9), ("b", 0.8))
    bm25 = _list(("b", 9.0), ("a", 1.0))
    assert rrf({"dense": dense, "bm25": bm25}, weights={"dense": 3.0, "bm25": 1.0})[0].chunk.doc_id == "a"
    assert rrf({"dense": dense, "bm25": bm25}, weights={"dense": 1.0, "bm25": 3.0})[0].chunk.doc_id == "b"


def test_zscore_uses_score_gaps_that_ranks_hide():
    # b is a hair behind the top in both lists; a and c each top one list and are far behind in
    # the other. Scores say b is the consensus; ranks alone call it a three-way tie.
    dense = _list(("a", 0.90), ("b", 0.89), ("c", 0.20))
    bm25 = _list(("c", 10.0), ("b", 9.9), ("a", 1.0))
    assert zscore({"dense": dense, "bm25": bm25})[0].chunk.doc_id == "b"
    assert rrf({"dense": dense, "bm25": bm25})[0].chunk.doc_id != "b"


def test_zscore_scale_free_and_missing_counts_as_lowest():
    dense = _list(("a", 0.9), ("b", 0.5), ("c", 0.1))
    scaled = _list(("a", 900.0), ("b", 500.0), ("c", 100.0))
    only_b = _list(("b", 1.0), ("x", 0.0))
    one = zscore({"dense": dense, "bm25": only_b})
    two = zscore({"dense": scaled, "bm25": only_b})
    assert [h.chunk.doc_id for h in one] == [h.chunk.doc_id for h in two]
    assert [round(h.score, 6) for h in one] == [round(h.score, 6) for h in two]
    # a, missing from bm25, gets bm25's lowest z: it cannot beat b, which both found
    assert one[0].chunk.doc_id == "b"


def test_single_list_keeps_its_order():
    dense = _list(("a", 0.9), ("b", 0.5), ("c", 0.1))
    assert [h.chunk.doc_id for h in zscore({"dense": dense})] == ["a", "b", "c"]
    assert [h.chunk.doc_id for h in rrf({"dense": dense})] == ["a", "b", "c"]


def test_dedupe_drops_repeated_text_keeps_the_better():
    hits = rrf(
        {
            "x": [
                ScoredChunk(_c("a", "Same  text."), 1),
                ScoredChunk(_c("b", "same text."), 0.9),
                ScoredChunk(_c("c"), 0.8),
            ]
        }
    )
    assert [h.chunk.doc_id for h in dedupe(hits)] == ["a", "c"]
