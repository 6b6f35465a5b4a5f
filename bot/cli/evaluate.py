"""`ragbot eval retrieval|followups|answers DATASET_DIR`: quality on BEIR-like evaluation sets."""

from __future__ import annotations

import argparse
import json
import sys

from bot.bootstrap import eval_settings
from bot.cli._common import ProgressBar, running_service
from bot.settings import Settings
from core.eval.answers import evaluate_answers
from core.eval.dataset import load_eval_set
from core.eval.followups import CONDITIONS, KINDS, build_followups, evaluate_followups
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
    async with running_service(eval_settings(settings), chat=True) as service:
        try:
            await index_eval_set(service, eval_set, progress=bar)
            scores = await evaluate_answers(
                service, eval_set, limit=args.limit, progress=lambda d, t: bar("ask", d, t)
            )
        finally:
            bar.close()
    if args.json:
        print(json.dumps(scores))
        return 0
    print(f"{eval_set.name} · {scores['n']} questions · model {scores['model']}")
    for key in ("lang_match", "cites_relevant", "contains_answer", "declined"):
        value = scores[key]
        print(f"  {key:16} {'n/a' if value is None else f'{value:.0%}'}")
    print(
        f"  time to first token p50 {scores['ttft_p50_s']:.1f} s · decode {scores['decode_tok_s']:.1f} tokens/s"
    )
    return 0
