"""Do votes that move retrieval help on questions nobody voted on? Measured with simulated votes.

The questions of an eval set are split into two halves by topic: a question and its translation
(``en-x`` / ``ru-x``) fall in the same half, so the other half never holds a question already voted
on in another language. For each question of the *training* half, retrieval (without votes) gives
the context an answer would get: its best ``CONTEXT`` chunks. The simulated answer cites the
relevant ones among them (a model answers from the passage that holds the answer) and gets a
thumbs-up; when none is relevant it cites the first and gets a thumbs-down. These votes go through
the real path (the answer log, ``RagService.vote``, the store's chunk votes, fusion). Then the
*test* half is scored with and without the votes, per language; and the halves swap (two folds).
A gain on the training half shows the votes act; only the test half shows whether they help.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from core.answer.context import ContextItem, to_sources
from core.eval.dataset import EvalQuery, EvalSet
from core.eval.metrics import doc_ranking, ndcg_at
from core.eval.retrieval import eval_space_id
from core.models import Answer, Asker, SearchFilters, Timings, Vote
from core.retrieval.feedback import SIMILARITY_FLOOR, FeedbackPrior, Unit
from core.service import RagService

__all__ = ["FeedbackRun", "Setting", "evaluate_feedback", "split_halves", "SIMULATED", "CONTEXT"]

SIMULATED = Asker(platform="eval", user_id="simulated-feedback")
CONTEXT = 5  # chunks an answer is given (ANSWER_CONTEXT_CHUNKS_MIN..MAX is 3..6)
_DEPTH = 60  # as in evaluate_retrieval: documents ranked from this many chunks


@dataclass(frozen=True)
class Setting:
    unit: Unit
    weight: float
    floor: float | None = SIMILARITY_FLOOR  # None: every vote counts for every question

    @property
    def name(self) -> str:
        by = "any question" if self.floor is None else f"similar >{self.floor:g}"
        return f"{self.unit} x{self.weight:g} {by}"


@dataclass(frozen=True)
class FeedbackRun:
    """nDCG@10 by fold, half ("train" / "test"), setting ("none" or ``Setting.name``) and language
    (plus "all"), with the number of questions and of simulated votes."""

    set_name: str
    ndcg: dict[str, dict[str, dict[str, dict[str, float]]]]  # fold -> half -> setting -> lang -> nDCG@10
    queries: dict[str, dict[str, int]]  # half of fold 1 -> lang -> questions
    votes: dict[str, dict[str, int]]  # fold -> "up" / "down" -> votes

    def mean(self, half: str, setting: str, lang: str = "all") -> float:
        values = [self.ndcg[fold][half][setting][lang] for fold in self.ndcg]
        return sum(values) / len(values)

    def to_json(self) -> dict:
        return {"set": self.set_name, "ndcg@10": self.ndcg, "queries": self.queries, "votes": self.votes}


def _topic(query_id: str) -> str:
    return query_id[3:] if query_id[:3] in ("en-", "ru-") else query_id


def split_halves(queries: Sequence[EvalQuery]) -> tuple[list[EvalQuery], list[EvalQuery]]:
    """Two halves by a hash of the topic, stable from run to run and machine to machine."""
    halves: tuple[list[EvalQuery], list[EvalQuery]] = ([], [])
    for q in queries:
        digest = hashlib.sha256(_topic(q.query_id).encode()).digest()
        halves[digest[0] % 2].append(q)
    return halves


async def evaluate_feedback(
    service: RagService,
    eval_set: EvalSet,
    settings: Sequence[Setting],
    progress: Callable[[int, int], None] | None = None,
) -> FeedbackRun:
    """Score both folds; leaves no simulated answer or vote behind."""
    space = eval_space_id(eval_set)
    retriever = service.retriever
    saved = (retriever.settings, retriever.feedback)
    vectors = {q.query_id: await service.embedder.embed_query(q.text) for q in eval_set.queries}
    halves = split_halves(eval_set.queries)
    total = 2 * (len(eval_set.queries) * (1 + len(settings)) + len(eval_set.queries) // 2)
    done = 0

    async def ndcg(queries: Sequence[EvalQuery], setting: Setting | None) -> dict[str, float]:
        nonlocal done
        weight = setting.weight if setting else 0.0
        retriever.settings = saved[0].model_copy(update={"feedback_weight": weight})
        retriever.feedback = FeedbackPrior(
            service.store,
            half_life_days=saved[0].feedback_half_life_days,
            embedder=service.embedder,
            unit=setting.unit if setting else "chunk",
            similarity_floor=setting.floor if setting else None,
        )
        by_lang: dict[str, list[float]] = defaultdict(list)
        for q in queries:
            result = await retriever.search(
                q.text, SearchFilters(space), top_k=_DEPTH, vector=vectors[q.query_id]
            )
            score = ndcg_at(
                doc_ranking([h.chunk.doc_id for h in result.hits]), eval_set.qrels.get(q.query_id, {}), 10
            )
            by_lang[q.lang].append(score)
            by_lang["all"].append(score)
            done += 1
            if progress:
                progress(done, total)
        return {lang: round(float(np.mean(scores)), 4) for lang, scores in sorted(by_lang.items())}

    out: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    votes: dict[str, dict[str, int]] = {}
    try:
        await service.forget_user(SIMULATED.platform, SIMULATED.user_id)  # a run stopped half-way
        for fold, (train, test) in enumerate([halves, halves[::-1]], start=1):
            retriever.settings = saved[0].model_copy(update={"feedback_weight": 0.0})
            up = down = 0
            for q in train:
                value = await _simulate_vote(service, eval_set, space, q, vectors[q.query_id])
                up, down = up + (value > 0), down + (value < 0)
                done += 1
                if progress:
                    progress(done, total)
            results: dict[str, dict[str, dict[str, float]]] = {"train": {}, "test": {}}
            for half, queries in (("test", test), ("train", train)):
                results[half]["none"] = await ndcg(queries, None)
                for setting in settings:
                    results[half][setting.name] = await ndcg(queries, setting)
            out[str(fold)] = results
            votes[str(fold)] = {"up": up, "down": down}
            await service.forget_user(SIMULATED.platform, SIMULATED.user_id)
    finally:
        retriever.settings, retriever.feedback = saved
        await service.forget_user(SIMULATED.platform, SIMULATED.user_id)
    counts = {
        name: {lang: sum(1 for q in half if q.lang == lang) for lang in sorted({q.lang for q in half})}
        for name, half in (("train", halves[0]), ("test", halves[1]))
    }
    return FeedbackRun(eval_set.name, out, counts, votes)


async def _simulate_vote(
    service: RagService, eval_set: EvalSet, space: str, q: EvalQuery, vector: np.ndarray
) -> int:
    """Record the answer this question would get and the vote its asker would give; returns it."""
    result = await service.retriever.search(q.text, SearchFilters(space), top_k=CONTEXT, vector=vector)
    items = [ContextItem(n, hit.chunk) for n, hit in enumerate(result.hits[:CONTEXT], start=1)]
    if not items:
        return 0
    relevant = eval_set.qrels.get(q.query_id, {})
    cited = {i.n for i in items if relevant.get(i.chunk.doc_id, 0) > 0}
    value = 1 if cited else -1
    answer = Answer(
        answer_id=uuid.uuid4().hex[:16],
        question=q.text,
        space_id=space,
        text="(simulated)",
        sources=to_sources(items, cited or {1}),
        lang=q.lang,
        model="simulated",
        timings=Timings(),
    )
    await service.store.record_answer(answer, SIMULATED)
    await service.vote(Vote(answer.answer_id, SIMULATED.user_id, value, platform=SIMULATED.platform))
    return value
