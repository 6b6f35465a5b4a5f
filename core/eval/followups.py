"""Follow-up questions for the retrieval evaluation, built from a BEIR-like set (docs/retrieval.md).

Each real query of the set becomes three small threads, every choice deterministic (by a hash of
the query id), each scored against the real query's relevant documents:

- ``followup``: the query asked in a thread, someone's chatter, then a follow-up that depends on
  it ("how do we fix this?", "как это исправить?");
- ``drift``: the same, after an earlier message on another topic (another query of the set, of
  another document) at the top of the thread;
- ``new_topic``: a thread about another query, then the real query asked as it is: a question
  complete by itself must not be pulled back to the thread's old topic.

Three search queries are scored for each: the follow-up ``alone`` (what ragbot searched before it
read threads), the whole ``thread`` pasted before it, and the ``rewrite``
(``core.answer.query_rewrite.standalone_query``, what the answerer searches)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from core.answer.query_rewrite import standalone_query
from core.eval.dataset import EvalQuery, EvalSet
from core.eval.metrics import doc_ranking, ndcg_at, recall_at
from core.eval.retrieval import eval_space_id
from core.service import RagService

__all__ = ["FollowUp", "KINDS", "CONDITIONS", "build_followups", "evaluate_followups", "FollowUpScores"]

KINDS = ("followup", "drift", "new_topic")
CONDITIONS = ("alone", "thread", "rewrite")
_CHUNK_DEPTH = 60  # as core.eval.retrieval: chunks ranked into documents

FOLLOW_UPS = {
    "en": (
        "how do we fix this?",
        "is there a doc about that?",
        "what should we do about it?",
        "any idea how to do that?",
        "where is this described?",
    ),
    "ru": (
        "как это исправить?",
        "где про это почитать?",
        "что с этим делать?",
        "а как это сделать?",
        "где это описано?",
    ),
}
CHATTER = {
    "en": ("+1, same here", "anyone?", "hm, not sure", "let me check"),
    "ru": ("+1, у меня то же самое", "есть идеи?", "хм, не уверен", "сейчас гляну"),
}


@dataclass(frozen=True)
class FollowUp:
    query_id: str  # the real query whose relevant documents score this item
    lang: str
    kind: str
    thread: tuple[str, ...]  # the messages before the follow-up, oldest first
    text: str  # the follow-up question


def _pick(options: tuple[str, ...], key: str) -> str:
    return options[int(hashlib.sha1(key.encode()).hexdigest(), 16) % len(options)]


def _order(query_id: str) -> str:
    return hashlib.sha1(query_id.encode()).hexdigest()


def _sample(queries: list[EvalQuery], per_lang: int | None) -> list[EvalQuery]:
    if per_lang is None:
        return queries
    by_lang: dict[str, list[EvalQuery]] = defaultdict(list)
    for q in sorted(queries, key=lambda q: _order(q.query_id)):
        by_lang[q.lang].append(q)
    chosen = {q.query_id for qs in by_lang.values() for q in qs[:per_lang]}
    return [q for q in queries if q.query_id in chosen]


def build_followups(eval_set: EvalSet, *, per_lang: int | None = None) -> list[FollowUp]:
    """Three threads per query (``per_lang``: at most that many queries of each language, a
    deterministic sample). The other topic of a thread is the next query of the same language in
    a hashed order whose relevant documents differ from this one's."""
    queries = _sample([q for q in eval_set.queries if eval_set.qrels.get(q.query_id)], per_lang)
    by_lang: dict[str, list[EvalQuery]] = defaultdict(list)
    for q in sorted(queries, key=lambda q: _order(q.query_id)):
        by_lang[q.lang].append(q)
    items: list[FollowUp] = []
    for lang, group in by_lang.items():
        follow_ups, chatter = FOLLOW_UPS.get(lang, FOLLOW_UPS["en"]), CHATTER.get(lang, CHATTER["en"])
        for i, q in enumerate(group):
            relevant = set(eval_set.qrels[q.query_id])
            other = next(
                (
                    o
                    for o in group[i + 1 :] + group[:i]
                    if not relevant & set(eval_set.qrels.get(o.query_id, {}))
                ),
                None,
            )
            ask = _pick(follow_ups, q.query_id)
            noise = _pick(chatter, q.query_id + "/chatter")
            items.append(FollowUp(q.query_id, lang, "followup", (q.text, noise), ask))
            if other is None:
                continue
            items.append(FollowUp(q.query_id, lang, "drift", (other.text, noise, q.text, noise), ask))
            items.append(FollowUp(q.query_id, lang, "new_topic", (other.text, noise), q.text))
    return items


def search_text(item: FollowUp, condition: str) -> str:
    if condition == "alone":
        return item.text
    if condition == "thread":
        return "\n".join((*item.thread, item.text))
    return standalone_query(item.text, tuple(reversed(item.thread)))


@dataclass(frozen=True)
class FollowUpScores:
    n_items: int
    # kind -> condition -> {"all": nDCG@10, "en": ..., "ru": ..., "n": items}
    ndcg_at_10: dict[str, dict[str, dict[str, float]]]
    recall_at_5: dict[str, dict[str, dict[str, float]]]

    def to_json(self) -> dict:
        return {"n_items": self.n_items, "ndcg@10": self.ndcg_at_10, "recall@5": self.recall_at_5}


async def evaluate_followups(
    service: RagService,
    eval_set: EvalSet,
    items: list[FollowUp],
    progress: Callable[[int, int], None] | None = None,
) -> FollowUpScores:
    """Score each item under each condition (hybrid retrieval, the set's own space)."""
    space = eval_space_id(eval_set)
    rows: list[tuple[str, str, str, float, float]] = []  # kind, condition, lang, ndcg, recall
    for i, item in enumerate(items):
        rel = eval_set.qrels[item.query_id]
        for condition in CONDITIONS:
            result = await service.search(search_text(item, condition), space, top_k=_CHUNK_DEPTH)
            ranking = doc_ranking([h.chunk.doc_id for h in result.hits])
            rows.append(
                (item.kind, condition, item.lang, ndcg_at(ranking, rel, 10), recall_at(ranking, rel, 5))
            )
        if progress:
            progress(i + 1, len(items))

    def table(col: int) -> dict[str, dict[str, dict[str, float]]]:
        out: dict[str, dict[str, dict[str, float]]] = {}
        for kind in KINDS:
            for condition in CONDITIONS:
                cell: dict[str, float] = {}
                chosen = [r for r in rows if r[0] == kind and r[1] == condition]
                if not chosen:
                    continue
                cell["all"] = round(sum(r[col] for r in chosen) / len(chosen), 4)
                for lang in sorted({r[2] for r in chosen}):
                    mine = [r[col] for r in chosen if r[2] == lang]
                    cell[lang] = round(sum(mine) / len(mine), 4)
                cell["n"] = len(chosen)
                out.setdefault(kind, {})[condition] = cell
        return out

    return FollowUpScores(len(items), table(3), table(4))
