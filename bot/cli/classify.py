"""`ragbot classify`: the doc_type classifier on its own.

    ragbot classify PATH...            type, deciding stage and confidence of each document
    ragbot classify train              rebuild the model from the labelled set (train split)
    ragbot classify eval [--json]      measure on the held-out split
    ragbot classify taxonomy           print the taxonomy in use as YAML (a template for
                                       CLASSIFY_TAXONOMY_FILE)

(A file actually named "train", "eval" or "taxonomy" is given as ./train.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path, PurePosixPath

from bot.bootstrap import build_classifier, train_classifier
from bot.settings import Settings
from core.classify.evaluation import EvalReport, evaluate
from core.classify.labelled import DEFAULT_LABELS, load_labelled
from core.classify.model_files import model_path, user_model_path
from core.classify.stages import STAGES
from core.classify.taxonomy import load_taxonomy, taxonomy_to_yaml
from core.errors import CoreError, InvalidInput
from core.ingest.extract import extract
from core.ingest.sources import expand, is_url, read

__all__ = ["register"]

_ACTIONS = ("train", "eval", "taxonomy")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "classify",
        help="classify documents by type; `classify train` / `classify eval` rebuild and measure the model",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("targets", nargs="+", metavar="PATH|train|eval|taxonomy")
    p.add_argument(
        "--labels", type=Path, default=DEFAULT_LABELS, help="labelled set index (CSV) for train/eval"
    )
    p.add_argument(
        "--out",
        type=Path,
        help="train: where to write the model (default: DATA_DIR/classify/doctype_model.npz)",
    )
    p.add_argument(
        "--split", default="test", help="eval: the split to measure (default: the held-out 'test')"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=classify)


async def classify(args: argparse.Namespace, settings: Settings) -> int:
    action = args.targets[0]
    if action in _ACTIONS:
        if len(args.targets) > 1:
            raise InvalidInput(
                f"`ragbot classify {action}` takes no paths (a file named {action}? use ./{action})."
            )
        return await {"train": train, "eval": evaluate_split, "taxonomy": taxonomy}[action](args, settings)
    return await classify_paths(args, settings)


async def classify_paths(args: argparse.Namespace, settings: Settings) -> int:
    refs, failures = expand(args.targets)
    classifier = build_classifier(settings)
    await classifier.start()
    rows = []
    try:
        for ref in refs:
            if is_url(ref.location):
                rows.append(
                    {"source": ref.location, "error": "URLs are not read by this command: ingest them"}
                )
                continue
            try:
                content, name, media_type = await read(
                    ref, max_bytes=int(settings.ingest.max_file_mb * 1024 * 1024), fetcher=None
                )
                extracted = await asyncio.to_thread(extract, content, name=name, media_type=media_type)
            except CoreError as e:
                rows.append({"source": ref.location, "error": e.message})
                continue
            metadata = dict(extracted.metadata)
            title = extracted.title or PurePosixPath(name).stem
            explicit = metadata.get("doc_type") or metadata.get("type")
            if explicit:  # front matter wins, as in ingestion
                rows.append(
                    {"source": ref.location, "doc_type": explicit, "stage": "front_matter", "confidence": 1.0}
                )
                continue
            decision = await classifier.classify(
                title=title, text=extracted.text, source=ref.location, metadata=metadata
            )
            rows.append(
                {
                    "source": ref.location,
                    "doc_type": decision.doc_type,
                    "stage": decision.stage,
                    "confidence": decision.confidence,
                }
            )
    finally:
        await classifier.aclose()
    rows += [{"source": f.source, "error": f.reason} for f in failures]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        for row in rows:
            if "error" in row:
                print(f"{'-':14} {'error':12} {'':>5}  {row['source']}: {row['error']}")
            else:
                print(f"{row['doc_type']:14} {row['stage']:12} {row['confidence']:5.2f}  {row['source']}")
    return 1 if any("error" in r for r in rows) else 0


async def train(args: argparse.Namespace, settings: Settings) -> int:
    out = args.out or user_model_path(settings)
    report = await train_classifier(settings, args.labels, out)
    summary = {
        "model": str(out),
        "train_docs": report.n_docs,
        "cv_model_macro_f1": round(report.cv_model_macro_f1, 4),
        "cv_pipeline_macro_f1": round(report.cv_pipeline_macro_f1, 4),
        "cv_pipeline_accuracy": round(report.cv_pipeline_accuracy, 4),
        "threshold": report.threshold,
        "cv_coverage_at_threshold": round(report.cv_coverage, 4),
        "cv_precision_at_threshold": round(report.cv_precision, 4),
        "seconds": round(report.seconds, 1),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for key, value in summary.items():
            print(f"{key:28} {value}")
        if args.out is None:
            print("This model now wins over the shipped one (unless CLASSIFY_MODEL_FILE is set).")
    return 0


async def evaluate_split(args: argparse.Namespace, settings: Settings) -> int:
    docs = await asyncio.to_thread(load_labelled, args.labels, split=args.split)
    if not docs:
        raise InvalidInput(f"{args.labels} has no documents in the split '{args.split}'.")
    classifier = build_classifier(settings)
    await classifier.start()
    try:
        report = await evaluate(classifier, docs)
    finally:
        await classifier.aclose()
    if args.json:
        print(
            json.dumps(
                {"model": str(model_path(settings)), "split": args.split, **report.as_dict()}, indent=2
            )
        )
    else:
        print_report(report, f"{args.labels} [{args.split}], model {model_path(settings)}")
    return 0


def print_report(report: EvalReport, what: str) -> None:
    print(f"{what}: {report.n} documents")
    print(
        f"accuracy {report.accuracy:.3f}   macro-F1 {report.macro_f1:.3f}   {report.total_ms:.1f} ms/doc end to end"
    )
    for group, m in report.by_group.items():
        print(f"  {group:16} n={int(m['n']):3}  accuracy {m['accuracy']:.3f}  macro-F1 {m['macro_f1']:.3f}")
    print("\nstage     decided  accuracy  ms/doc (of the documents it was asked about)")
    for stage in STAGES:
        share = report.stage_share.get(stage, 0.0)
        acc = report.stage_accuracy.get(stage)
        ms = report.stage_ms.get(stage)
        print(
            f"{stage:9} {share:7.1%}  {'' if acc is None else f'{acc:8.3f}':>8}  {'' if ms is None else f'{ms:8.2f}':>8}"
        )
    columns = (*report.labels, "unknown")
    short = [c[:7] for c in columns]
    print("\nconfusion (rows: truth, columns: predicted)")
    print(" " * 14 + " ".join(f"{s:>7}" for s in short))
    for label, row in zip(report.labels, report.confusion, strict=True):
        print(f"{label:14}" + " ".join(f"{v:7d}" for v in row))
    if report.errors:
        print("\nerrors")
        for path, gold, predicted, stage in report.errors:
            print(f"  {path}: {gold} -> {predicted} ({stage})")


async def taxonomy(args: argparse.Namespace, settings: Settings) -> int:
    print(taxonomy_to_yaml(load_taxonomy(settings.classify.taxonomy_file)), end="")
    return 0
