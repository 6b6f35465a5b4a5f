"""`ragbot eval retrieval|answers DATASET_DIR`: quality on BEIR-like evaluation sets."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bot.bootstrap import eval_settings
from bot.cli._common import ProgressBar, running_service
from bot.settings import Settings
from core.eval.answers import evaluate_answers
from core.eval.dataset import load_eval_set
from core.eval.retrieval import evaluate_retrieval, index_eval_set

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="measure retrieval or answer quality on an evaluation set")
    esub = p.add_subparsers(dest="eval_command", required=True)
    r = esub.add_parser("retrieval", help="Recall@5, MRR@10, nDCG@10, overall and per language")
    r.add_argument("dataset", metavar="DATASET_DIR")
    r.add_argument("--mode", choices=("hybrid", "dense", "bm25"), default="hybrid")
    r.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    r.set_defaults(handler=retrieval)
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


async def retrieval(args: argparse.Namespace, settings: Settings) -> int:
    eval_set = load_eval_set(args.dataset)
    bar = ProgressBar()
    async with running_service(eval_settings(settings)) as service:
        try:
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
