"""Evaluation sets in the BEIR-like format of ``shared/eval``: ``corpus.jsonl``,
``queries.jsonl`` and ``qrels.tsv`` (query_id, doc_id, relevance; one header line)."""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import InvalidInput
from core.text import detect_lang

__all__ = ["CorpusDoc", "EvalQuery", "EvalSet", "load_eval_set"]


@dataclass(frozen=True)
class CorpusDoc:
    doc_id: str
    title: str
    text: str
    lang: str


@dataclass(frozen=True)
class EvalQuery:
    query_id: str
    text: str
    lang: str
    answers: tuple[str, ...] = ()  # reference answers, where the set has them


@dataclass(frozen=True)
class EvalSet:
    name: str
    corpus: tuple[CorpusDoc, ...]
    queries: tuple[EvalQuery, ...]
    qrels: dict[str, dict[str, int]] = field(default_factory=dict)
    corpus_hash: str = ""


def _jsonl(path: Path) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise InvalidInput(f"{path.name} line {n} is not valid JSON: {e.msg}") from e
    return rows


def load_eval_set(directory: str | Path) -> EvalSet:
    root = Path(directory)
    missing = [n for n in ("corpus.jsonl", "queries.jsonl", "qrels.tsv") if not (root / n).is_file()]
    if missing:
        raise InvalidInput(f"{root} is not an evaluation set: missing {', '.join(missing)}.")
    corpus = tuple(
        CorpusDoc(
            doc_id=str(r["id"]),
            title=str(r.get("title") or ""),
            text=str(r.get("text") or ""),
            lang=str(r.get("lang") or detect_lang(f"{r.get('title', '')} {r.get('text', '')[:2000]}")),
        )
        for r in _jsonl(root / "corpus.jsonl")
    )
    queries = []
    for r in _jsonl(root / "queries.jsonl"):
        answers = r.get("answers") or ([r["answer"]] if r.get("answer") else [])
        queries.append(
            EvalQuery(
                str(r["id"]), str(r["text"]), str(r.get("lang") or detect_lang(r["text"])), tuple(answers)
            )
        )
    qrels: dict[str, dict[str, int]] = {}
    with (root / "qrels.tsv").open(encoding="utf-8") as f:
        reader = csv.reader(f, delimiter="\t")
        next(reader, None)
        for row in reader:
            if len(row) >= 3:
                qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    digest = hashlib.sha256((root / "corpus.jsonl").read_bytes()).hexdigest()
    return EvalSet(root.name, corpus, tuple(q for q in queries if q.query_id in qrels), qrels, digest)
