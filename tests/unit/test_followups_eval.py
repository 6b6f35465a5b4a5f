"""The follow-up evaluation set built from a BEIR-like set (core/eval/followups.py; docs/retrieval.md)."""

from core.eval.dataset import CorpusDoc, EvalQuery, EvalSet
from core.eval.followups import CHATTER, FOLLOW_UPS, build_followups, search_text


def _set() -> EvalSet:
    queries = (
        EvalQuery("en-1", "How do I rotate the API keys?", "en"),
        EvalQuery("en-2", "Where are nightly backups kept?", "en"),
        EvalQuery("en-3", "Who approves a deploy?", "en"),
        EvalQuery("ru-1", "Как перезапустить шлюз?", "ru"),
        EvalQuery("ru-2", "Где хранятся бэкапы?", "ru"),
    )
    qrels = {
        "en-1": {"keys": 1},
        "en-2": {"backups": 1},
        "en-3": {"keys": 1},
        "ru-1": {"gw": 1},
        "ru-2": {"backups": 1},
    }
    corpus = (CorpusDoc("keys", "Keys", "...", "en"), CorpusDoc("backups", "Backups", "...", "en"))
    return EvalSet("tiny", corpus, queries, qrels)


def test_three_threads_per_query_each_scored_against_the_real_querys_documents():
    items = build_followups(_set())
    assert items == build_followups(_set()), "deterministic"
    by_kind = {kind: [i for i in items if i.kind == kind] for kind in ("followup", "drift", "new_topic")}
    assert len(by_kind["followup"]) == 5 and len(by_kind["drift"]) == len(by_kind["new_topic"]) == 5
    texts = {q.query_id: q.text for q in _set().queries}
    qrels = _set().qrels
    for item in items:
        lang_follow_ups, lang_chatter = FOLLOW_UPS[item.lang], CHATTER[item.lang]
        if item.kind == "new_topic":
            assert item.text == texts[item.query_id] and texts[item.query_id] not in item.thread
        else:
            assert item.text in lang_follow_ups and texts[item.query_id] in item.thread
        assert any(m in lang_chatter for m in item.thread)
        if item.kind != "followup":
            other = next(t for t in item.thread if t in texts.values() and t != texts[item.query_id])
            other_id = next(k for k, v in texts.items() if v == other)
            assert not set(qrels[other_id]) & set(qrels[item.query_id]), (
                "the other topic is another document's"
            )
            assert _set().queries[[q.query_id for q in _set().queries].index(other_id)].lang == item.lang


def test_the_three_search_texts():
    item = next(i for i in build_followups(_set()) if i.kind == "followup" and i.lang == "en")
    assert search_text(item, "alone") == item.text
    assert search_text(item, "thread") == "\n".join((*item.thread, item.text))
    rewritten = search_text(item, "rewrite")
    assert rewritten.startswith(item.text) and len(rewritten) > len(item.text)


def test_a_sample_per_language_is_fixed():
    one = build_followups(_set(), per_lang=1)
    assert {i.lang for i in one} == {"en", "ru"} and len({i.query_id for i in one}) == 2
    assert one == build_followups(_set(), per_lang=1)
