"""Answer evaluation: ask each question against its indexed corpus and measure what a person
would notice — the language, whether the answer cites a relevant document, whether it holds
the reference answer, whether it declined, whether it ends mid-sentence — and how fast it came."""

from __future__ import annotations

import re
import statistics
import time
import unicodedata
from collections.abc import Callable, Sequence

from core.answer.prompt import has_note, without_note
from core.eval.dataset import EvalQuery, EvalSet
from core.eval.retrieval import eval_space_id
from core.models import Answer, AnswerDone, Question, TextDelta
from core.service import RagService
from core.text import detect_lang

__all__ = [
    "evaluate_answers",
    "contains_reference",
    "pick_questions",
    "ends_mid_sentence",
    "answer_record",
    "score_answers",
]


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def contains_reference(answer: str, references: tuple[str, ...]) -> bool:
    """Normalised substring match (SQuAD-style normalisation without article stripping)."""
    body = _norm(answer)
    return any(_norm(ref) and _norm(ref) in body for ref in references)


def pick_questions(
    queries: Sequence[EvalQuery], *, limit: int | None = None, sample: int | None = None
) -> list[EvalQuery]:
    """``sample``: a fixed, language-balanced sample of about that many questions: an equal share
    per language, spread evenly over each language's questions in file order (the sets list
    questions topic by topic, so the first N would all be about one topic and one language).
    ``limit``: the first N. Neither: all."""
    if sample:
        langs = sorted({q.lang for q in queries})
        share = max(1, sample // len(langs))
        picked: list[EvalQuery] = []
        for lang in langs:
            of_lang = [q for q in queries if q.lang == lang]
            step = len(of_lang) / min(share, len(of_lang))
            picked.extend(of_lang[int(i * step)] for i in range(min(share, len(of_lang))))
        order = {q.query_id: i for i, q in enumerate(queries)}
        return sorted(picked, key=lambda q: order[q.query_id])
    return list(queries[:limit] if limit else queries)


_CITATIONS_AT_END = re.compile(r"(?:\s*\[\d{1,2}(?:\s*[,;]\s*\d{1,2})*\])+\s*[.;]?$")
_COMPLETE = re.compile(r"[.!?…][\"'»”)\]`*_]*$")
_LIST_OR_ROW = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)]|\|)\s*")


def ends_mid_sentence(text: str, *, at_limit: bool) -> bool:
    """The answer stopped at the token limit (``at_limit``: the server counted max_tokens
    completion tokens) and ends in the middle of a sentence or a word, with no note saying so.
    An answer the model ended by itself ended where it chose; one with the shortened or cut-off
    note says what happened."""
    if not at_limit or has_note(text):
        return False
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return False
    last = lines[-1]
    if last.startswith(("```", "~~~")) and sum(line.startswith(("```", "~~~")) for line in lines) % 2 == 0:
        return False  # a closed code block
    if _CITATIONS_AT_END.search(last) or _COMPLETE.search(last):
        return False
    return True


def answer_record(
    answer: Answer, query: EvalQuery, eval_set: EvalSet, *, max_tokens: int, first_text_s: float
) -> dict:
    """One answer as the evaluation judges it (a line of ``--records``). ``first_text_s``: from the
    question to the first text the asker received (retrieval, compression, the model's prefill and
    the few tokens the answerer holds back while it checks the language)."""
    relevant = eval_set.qrels.get(query.query_id, {})
    at_limit = answer.timings.completion_tokens >= max_tokens
    return {
        "id": query.query_id,
        "lang": query.lang,
        "question": query.text,
        "answer": answer.text,
        "model": answer.model,
        "declined": answer.declined,
        # judged without the shortened/cut-off note, which is always in the question's language
        "lang_match": None if answer.declined else detect_lang(without_note(answer.text)) == query.lang,
        "cites_relevant": any(s.cited and relevant.get(s.doc_id, 0) > 0 for s in answer.sources),
        "contains_answer": contains_reference(answer.text, query.answers) if query.answers else None,
        "at_limit": at_limit,
        "shortened": has_note(answer.text) and at_limit,
        "ends_mid_sentence": ends_mid_sentence(answer.text, at_limit=at_limit),
        "prompt_tokens": answer.timings.prompt_tokens,
        "context_tokens": answer.timings.context_tokens,
        "completion_tokens": answer.timings.completion_tokens,
        "ttft_s": round(answer.timings.prefill_s, 3),
        "first_text_s": round(first_text_s, 3),
        "decode_tok_s": round(answer.timings.tokens_per_s, 2),
        "sources": [
            {"n": s.n, "doc_id": s.doc_id, "section": s.section, "cited": s.cited} for s in answer.sources
        ],
    }


def _share(flags: Sequence[bool | None]) -> float | None:
    values = [f for f in flags if f is not None]
    return round(sum(values) / len(values), 4) if values else None


def _median(values: Sequence[float]) -> float:
    return round(statistics.median(values), 3) if values else 0.0


def score_answers(name: str, records: Sequence[dict]) -> dict:
    """The evaluation's figures from its records, overall and per language."""

    def figures(rows: Sequence[dict]) -> dict:
        return {
            "n": len(rows),
            "lang_match": _share([r["lang_match"] for r in rows]),
            "cites_relevant": _share([r["cites_relevant"] for r in rows]),
            "contains_answer": _share([r["contains_answer"] for r in rows]),
            "declined": _share([r["declined"] for r in rows]),
        }

    langs = sorted({r["lang"] for r in records})
    return {
        "dataset": name,
        **figures(records),
        "model": records[0]["model"] if records else "",
        "ttft_p50_s": _median([r["ttft_s"] for r in records if r["ttft_s"] > 0]),
        "first_text_p50_s": _median([r["first_text_s"] for r in records if r["first_text_s"] > 0]),
        "decode_tok_s": _median([r["decode_tok_s"] for r in records if r["decode_tok_s"] > 0]),
        "prompt_tokens_p50": _median([r["prompt_tokens"] for r in records]),
        "context_tokens_p50": _median([r["context_tokens"] for r in records]),
        "at_limit": sum(r["at_limit"] for r in records),
        "shortened": sum(r["shortened"] for r in records),
        "ends_mid_sentence": sum(r["ends_mid_sentence"] for r in records),
        "by_lang": {lang: figures([r for r in records if r["lang"] == lang]) for lang in langs},
    }


async def evaluate_answers(
    service: RagService,
    eval_set: EvalSet,
    *,
    limit: int | None = None,
    sample: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    on_record: Callable[[dict], None] | None = None,
) -> dict:
    space = eval_space_id(eval_set)
    queries = pick_questions(eval_set.queries, limit=limit, sample=sample)
    max_tokens = service.answerer.llm.max_tokens
    records: list[dict] = []
    for i, q in enumerate(queries):
        answer = None
        asked = time.perf_counter()
        first_text: float | None = None
        async for event in service.ask(Question(text=q.text, space_id=space)):
            if isinstance(event, TextDelta) and first_text is None:
                first_text = time.perf_counter() - asked
            if isinstance(event, AnswerDone):
                answer = event.answer
        assert answer is not None  # ask() always ends with AnswerDone or raises
        record = answer_record(answer, q, eval_set, max_tokens=max_tokens, first_text_s=first_text or 0.0)
        records.append(record)
        if on_record:
            on_record(record)
        if progress:
            progress(i + 1, len(queries))
    return score_answers(eval_set.name, records)
