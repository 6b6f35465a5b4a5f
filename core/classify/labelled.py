"""The labelled documents the doc_type model is trained and measured on.

An index (CSV: path, label, lang, source, licence, split, group) lists documents by a path
relative to ``<index folder>/docs/``. Each document goes through the same extraction as
ingestion (``core.ingest.extract``), so the classifier sees in training what it sees in use.
The shipped set is ``core/data/classify/labels.csv`` (provenance in its README); a deployment
may pass its own index to ``ragbot classify train --labels``.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from core.errors import ConfigError, IngestError
from core.ingest.extract import extract

__all__ = ["LabelledDoc", "load_labelled", "DEFAULT_LABELS", "SPLITS"]

DEFAULT_LABELS = Path(__file__).resolve().parent.parent / "data" / "classify" / "labels.csv"
SPLITS = ("train", "test")
_REQUIRED = ("path", "label")


@dataclass(frozen=True)
class LabelledDoc:
    path: str  # relative to the index's docs/ folder; the classifier sees it as the source
    label: str
    lang: str
    split: str
    group: str
    source: str  # provenance: where the text comes from
    licence: str
    title: str
    text: str
    metadata: Mapping[str, str] = field(default_factory=dict)


def load_labelled(index: Path = DEFAULT_LABELS, *, split: str | None = None) -> list[LabelledDoc]:
    """The documents of ``index`` (all, or one split), extracted as ingestion would."""
    try:
        with Path(index).open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise ConfigError(f"Cannot read the labelled set {index}: {e.strerror or e}.") from e
    if rows and any(col not in rows[0] for col in _REQUIRED):
        raise ConfigError(f"{index}: the labelled set needs the columns {', '.join(_REQUIRED)}.")
    docs_dir = Path(index).parent / "docs"
    out = []
    for row in rows:
        row_split = (row.get("split") or "train").strip()
        if split is not None and row_split != split:
            continue
        rel = row["path"].strip()
        file = docs_dir / rel
        try:
            extracted = extract(file.read_bytes(), name=file.name)
        except OSError as e:
            raise ConfigError(f"{index}: cannot read {file}: {e.strerror or e}.") from e
        except IngestError as e:
            raise ConfigError(f"{index}: {rel}: {e.message}") from e
        out.append(
            LabelledDoc(
                path=rel,
                label=row["label"].strip(),
                lang=(row.get("lang") or "").strip(),
                split=row_split,
                group=(row.get("group") or rel).strip(),
                source=(row.get("source") or "").strip(),
                licence=(row.get("licence") or "").strip(),
                title=extracted.title or PurePosixPath(rel).stem,
                text=extracted.text,
                metadata=dict(extracted.metadata),
            )
        )
    return out
