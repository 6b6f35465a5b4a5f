"""Answer evaluation: ask each question against its indexed corpus and measure what a person
would notice — the language, whether the answer cites a relevant document, whether it holds
the reference answer, whether it declined — and how fast it came."""

from __future__ import annotations

import re
import statistics
import unicodedata
from collections.abc import Callable

from core.eval.dataset import EvalQuery, EvalSet
from core.eval.retrieval import eval_space_id
from core.models import Answer, AnswerDone, Question
from core.service import RagService
from core.text import detect_lang

__all__ = ["evaluate_answers", "contains_reference"]


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def contains_reference(answer: str, references: tuple[str, ...]) -> bool:
    """Normalised substring match (SQuAD-style normalisation without article stripping)."""
    body = _norm(answer)
    return any(_norm(ref) and _norm(ref) in body for ref in references)


async def evaluate_answers(
    service: RagService,
    eval_set: EvalSet,
    *,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    space = eval_space_id(eval_set)
    queries = eval_set.queries[:limit] if limit else eval_set.queries
    answers: list[tuple[Answer, EvalQuery]] = []
    for i, q in enumerate(queries):
        answer = None
        async for event in service.ask(Question(text=q.text, space_id=space)):
            if isinstance(event, AnswerDone):
                answer = event.answer
        answers.append((answer, q))
        if progress:
            progress(i + 1, len(queries))

    def share(flags: list[bool]) -> float | None:
        return round(sum(flags) / len(flags), 4) if flags else None

    lang_match = [detect_lang(a.text) == q.lang for a, q in answers if not a.declined]
    cites_relevant = [
        any(s.cited and eval_set.qrels.get(q.query_id, {}).get(s.doc_id, 0) > 0 for s in a.sources)
        for a, q in answers
    ]
    with_reference = [(a, q) for a, q in answers if q.answers]
    ttft = [a.timings.prefill_s for a, _ in answers if a.timings.prefill_s > 0]
    rates = [a.timings.tokens_per_s for a, _ in answers if a.timings.tokens_per_s > 0]
    return {
        "dataset": eval_set.name,
        "n": len(answers),
        "model": answers[0][0].model if answers else "",
        "lang_match": share(lang_match),
        "cites_relevant": share(cites_relevant),
        "contains_answer": share([contains_reference(a.text, q.answers) for a, q in with_reference]),
        "declined": share([a.declined for a, _ in answers]),
        "ttft_p50_s": round(statistics.median(ttft), 3) if ttft else 0.0,
        "decode_tok_s": round(statistics.median(rates), 2) if rates else 0.0,
    }
