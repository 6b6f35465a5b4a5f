"""`ragbot eval retrieval|followups|answers|feedback DATASET_DIR`: quality on BEIR-like evaluation
sets; `ragbot eval verified PAIRS.tsv`: the verified-answer thresholds on labelled question pairs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bot.bootstrap import eval_settings
from bot.cli._common import ProgressBar, running_service
from bot.settings import Settings
from core.errors import InvalidInput
from core.eval.answers import evaluate_answers
from core.eval.dataset import load_eval_set
from core.eval.feedback import Setting, evaluate_feedback
from core.eval.followups import CONDITIONS, build_followups, evaluate_followups
from core.eval.retrieval import evaluate_retrieval, index_eval_keywords, index_eval_set
from core.eval.verified import KINDS, evaluate_thresholds, load_pairs
from core.retrieval.feedback import SIMILARITY_FLOOR

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="measure retrieval or answer quality on an evaluation set")
    esub = p.add_subparsers(dest="eval_command", required=True)
    r = esub.add_parser("retrieval", help="Recall@5, MRR@10, nDCG@10, overall and per language")
    r.add_argument("dataset", metavar="DATASET_DIR")
    r.add_argument("--mode", choices=("hybrid", "dense", "bm25"), default="hybrid")
    r.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    r.add_argument(
        "--keywords-only",
        action="store_true",
        help="with --mode bm25: fill only the keyword index (chunked as ingestion does, no embedding), "
        "to compare keyword backends on a corpus too large to embed here",
    )
    r.set_defaults(handler=retrieval)
    f = esub.add_parser(
        "followups",
        help="nDCG@10 of follow-up questions in a thread: alone, after the whole thread, rewritten",
    )
    f.add_argument("dataset", metavar="DATASET_DIR")
    f.add_argument(
        "--per-lang", type=int, default=None, help="at most N queries per language (a fixed sample)"
    )
    f.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    f.set_defaults(handler=followups)
    a = esub.add_parser("answers", help="language match, citations, reference answers, time to first token")
    a.add_argument("dataset", metavar="DATASET_DIR")
    a.add_argument("--limit", type=int, default=20, help="ask only the first N questions (default 20)")
    a.add_argument(
        "--sample",
        type=int,
        default=None,
        metavar="N",
        help="ask a fixed, language-balanced sample of N questions instead (an equal share per "
        "language, spread evenly over the set)",
    )
    a.add_argument(
        "--records",
        type=Path,
        default=None,
        metavar="FILE",
        help="write each answer and its scores to FILE (JSON lines)",
    )
    a.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    a.set_defaults(handler=answers)
    f = esub.add_parser(
        "feedback", help="nDCG@10 with simulated votes on one half of the questions, scored on the other"
    )
    f.add_argument("dataset", metavar="DATASET_DIR")
    f.add_argument(
        "--weight",
        type=float,
        action="append",
        help="RETRIEVAL_FEEDBACK_WEIGHT to score (repeatable; default: the configured one)",
    )
    f.add_argument(
        "--unit",
        choices=("chunk", "document"),
        action="append",
        help="what a vote moves: the cited chunk (as ragbot does) or its whole document (repeatable)",
    )
    f.add_argument(
        "--floor",
        type=float,
        action="append",
        help="question similarity below which a vote does not count (repeatable; default 0.8)",
    )
    f.add_argument(
        "--any-question", action="store_true", help="also score votes counting for every question alike"
    )
    f.add_argument(
        "--rewordings",
        metavar="PAIRS_TSV",
        help="also score the set's questions asked in other words (the same-language pairs of a "
        "labelled pairs file, e.g. tests/data/verified/pairs.tsv) after votes on the originals",
    )
    f.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    f.set_defaults(handler=feedback)
    v = esub.add_parser("verified", help="recall and false matches of the verified-answer thresholds")
    v.add_argument("pairs", metavar="PAIRS_TSV", help="labelled pairs, e.g. tests/data/verified/pairs.tsv")
    v.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    v.set_defaults(handler=verified)


async def retrieval(args: argparse.Namespace, settings: Settings) -> int:
    if args.keywords_only and args.mode != "bm25":
        raise InvalidInput("--keywords-only fills only the keyword index: use it with --mode bm25")
    eval_set = load_eval_set(args.dataset)
    bar = ProgressBar()
    async with running_service(eval_settings(settings)) as service:
        try:
            if args.keywords_only:
                await index_eval_keywords(service, eval_set, progress=bar)
            else:
                report = await index_eval_set(service, eval_set, progress=bar)
                if not report.ok:
                    print(f"warning: {len(report.failed)} corpus documents failed to index", file=sys.stderr)
            scores = await evaluate_retrieval(
                service, eval_set, args.mode, progress=lambda d, t: bar("query", d, t)
            )
        finally:
            bar.close()
    if args.json:
        print(json.dumps(scores.to_json()))
        return 0
    print(f"{eval_set.name} · {scores.mode} · {scores.n_queries} queries")
    print(
        f"  all  Recall@5 {scores.recall_at_5:.3f}  MRR@10 {scores.mrr_at_10:.3f}  nDCG@10 {scores.ndcg_at_10:.3f}"
    )
    for lang, row in scores.by_lang.items():
        print(
            f"  {lang:4} Recall@5 {row['recall@5']:.3f}  MRR@10 {row['mrr@10']:.3f}  nDCG@10 {row['ndcg@10']:.3f}"
            f"  ({row['n_queries']} queries)"
        )
    return 0


async def followups(args: argparse.Namespace, settings: Settings) -> int:
    eval_set = load_eval_set(args.dataset)
    items = build_followups(eval_set, per_lang=args.per_lang)
    bar = ProgressBar()
    async with running_service(eval_settings(settings)) as service:
        try:
            await index_eval_set(service, eval_set, progress=bar)
            scores = await evaluate_followups(
                service, eval_set, items, progress=lambda d, t: bar("follow-up", d, t)
            )
        finally:
            bar.close()
    if args.json:
        print(json.dumps({"set": eval_set.name, **scores.to_json()}, ensure_ascii=False))
        return 0
    print(f"{eval_set.name} · {scores.n_items} threads · hybrid · nDCG@10 (all / per language)")
    for kind in KINDS:
        for condition in CONDITIONS:
            cell = scores.ndcg_at_10.get(kind, {}).get(condition)
            if cell is None:
                continue
            langs = "  ".join(f"{k} {v:.3f}" for k, v in cell.items() if k not in ("all", "n"))
            print(f"  {kind:9} {condition:8} {cell['all']:.3f}  {langs}  ({int(cell['n'])})")
    return 0


async def answers(args: argparse.Namespace, settings: Settings) -> int:
    eval_set = load_eval_set(args.dataset)
    bar = ProgressBar()
    out = args.records.open("w", encoding="utf-8") if args.records else None

    def write(record: dict) -> None:
        if out is not None:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            out.flush()  # a long run read while it goes, or cut short, keeps what it answered

    try:
        async with running_service(eval_settings(settings), chat=True) as service:
            try:
                await index_eval_set(service, eval_set, progress=bar)
                scores = await evaluate_answers(
                    service,
                    eval_set,
                    limit=args.limit,
                    sample=args.sample,
                    progress=lambda d, t: bar("ask", d, t),
                    on_record=write,
                )
            finally:
                bar.close()
    finally:
        if out is not None:
            out.close()
    if args.json:
        print(json.dumps(scores))
        return 0
    print(f"{eval_set.name} · {scores['n']} questions · model {scores['model']}")
    for key in ("lang_match", "cites_relevant", "contains_answer", "declined"):
        value = scores[key]
        print(f"  {key:16} {'n/a' if value is None else f'{value:.0%}'}")
    print(
        f"  time to first token p50 {scores['ttft_p50_s']:.1f} s (first text {scores['first_text_p50_s']:.1f} s)"
        f" · decode {scores['decode_tok_s']:.1f} tokens/s"
        f" · prompt {scores['prompt_tokens_p50']:.0f} tokens p50"
    )
    print(
        f"  stopped at LLM_MAX_TOKENS {scores['at_limit']} · shortened with a note {scores['shortened']}"
        f" · ending mid-sentence without one {scores['ends_mid_sentence']}"
    )
    return 0


async def feedback(args: argparse.Namespace, settings: Settings) -> int:
    eval_set = load_eval_set(args.dataset)
    pairs = load_pairs(args.rewordings) if args.rewordings else []
    rewordings = [(p.question, p.other) for p in pairs if p.same and p.kind != "cross"]
    weights = args.weight or [settings.retrieval.feedback_weight]
    floors: list[float | None] = list(args.floor or [SIMILARITY_FLOOR])
    if args.any_question:
        floors.append(None)
    runs = [Setting(u, w, f) for u in (args.unit or ["chunk"]) for w in weights if w > 0 for f in floors]
    bar = ProgressBar()
    async with running_service(eval_settings(settings)) as service:
        try:
            await index_eval_set(service, eval_set, progress=bar)
            run = await evaluate_feedback(
                service, eval_set, runs, progress=lambda d, t: bar("query", d, t), rewordings=rewordings
            )
        finally:
            bar.close()
    if args.json:
        print(json.dumps(run.to_json()))
        return 0
    langs = sorted({lang for fold in run.ndcg.values() for lang in fold["test"]["none"]})
    print(f"{eval_set.name} · nDCG@10, mean of two folds · votes {run.votes}")
    print("  " + "half   votes".ljust(42) + "".join(f"{lang:>8}" for lang in langs))
    for half in ("test", "train"):
        for name in ["none", *(r.name for r in runs)]:
            cells = "".join(f"{run.mean(half, name, lang):8.3f}" for lang in langs)
            print(f"  {half:6} {name:34}{cells}")
    if run.rewordings:
        print(f"  the same questions in other words ({run.rewording_queries}), after votes on the originals:")
        for name, by_lang in run.rewordings.items():
            cells = "".join(f"{by_lang.get(lang, float('nan')):8.3f}" for lang in langs)
            print(f"  {'reword':6} {name:34}{cells}")
    return 0


async def verified(args: argparse.Namespace, settings: Settings) -> int:
    pairs = load_pairs(args.pairs)
    thresholds = [round(0.8 + 0.01 * i, 2) for i in range(19)]
    async with running_service(eval_settings(settings)) as service:
        rows = await evaluate_thresholds(service.embedder, pairs, thresholds)
    if args.json:
        counts = {k: {"same": 0, "different": 0} for k in KINDS}
        for p in pairs:
            counts[p.kind]["same" if p.same else "different"] += 1
        print(json.dumps({"pairs": counts, "rows": [r.to_json() for r in rows]}))
        return 0
    print("threshold  " + "".join(f"{k + ' recall / false':>26}" for k in KINDS))
    for t in thresholds:
        cells = "".join(f"{r.recall:>17.2f} / {r.false_match_rate:.3f}" for r in rows if r.threshold == t)
        print(f"{t:9.2f}  {cells}")
    return 0
