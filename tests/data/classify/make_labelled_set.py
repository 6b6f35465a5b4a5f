"""Build the doc_type labelled set under core/data/classify/ (run from the repository root).

    python tests/data/classify/make_labelled_set.py [--demo-docs /work/shared/demo_docs]

1. Copies excerpts of real, openly licensed documents (Deckhouse EN+RU, AWS) from the demo
   documents into ``core/data/classify/docs/<same relative path>``: the front matter and the
   first ~5,000 characters, cut at a paragraph break (a fence left open is closed).
2. Reads ``core/data/classify/written.tsv`` (documents written for ragbot, CC0, already under
   ``docs/ragbot/``).
3. Assigns the held-out split: inside each (label, language) stratum, the groups (a document
   and its translation form one group, so a translation never leaks across the split) are
   ordered by a hash of their name and every third one is held out.
4. Writes ``core/data/classify/labels.csv``: path, label, lang, source, licence, split, group.

Re-running it gives the same files and the same split.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
OUT = ROOT / "core" / "data" / "classify"
EXCERPT_CHARS = 5000

DECKHOUSE = {
    "sds-local-volume": (
        "github.com/deckhouse/sds-local-volume@4f72fd7df0e2282c4e229fb32e2539cdc280fa36",
        "Apache-2.0",
    ),
    "sds-node-configurator": (
        "github.com/deckhouse/sds-node-configurator@92b48478941150233e357a23957eee9796714fe9",
        "Apache-2.0",
    ),
    "sds-replicated-volume": (
        "github.com/deckhouse/sds-replicated-volume@f8a3c629e492b1843c3c041e1558630bc75ebcc5",
        "Apache-2.0",
    ),
    "virtualization": (
        "github.com/deckhouse/virtualization@cf3a9e6c4cfb91538f9ab2fafba66ea7aaff9251",
        "CC-BY-SA-4.0",
    ),
}
AWS = ("github.com/siagholami/aws-documentation@2d06ee9011f3192b2ff38c09f04e01f1ea9e0191", "CC-BY-4.0")

# (module, page stem without language suffix, label). Module overviews (README), the stub pages
# that Hugo fills from CRDs (CR, CONFIGURATION) and the feature list are left out: they are no
# type of the taxonomy, or empty once the front matter is gone.
DECKHOUSE_PAGES = [
    ("sds-local-volume", "FAQ", "faq"),
    ("sds-node-configurator", "FAQ", "faq"),
    ("sds-replicated-volume", "FAQ", "faq"),
    ("virtualization", "FAQ", "faq"),
    ("virtualization", "RELEASE_NOTES", "release_notes"),
    ("sds-local-volume", "QUICK_START", "howto"),
    ("sds-local-volume", "USAGE", "howto"),
    ("sds-replicated-volume", "USAGE", "howto"),
    ("virtualization", "INSTALL", "howto"),
    ("virtualization", "USER_GUIDE", "howto"),
    ("virtualization", "ADMIN_GUIDE", "howto"),
    ("sds-node-configurator", "LAYOUTS", "howto"),
    ("sds-replicated-volume", "LAYOUTS", "howto"),
    ("sds-node-configurator", "RESOURCES", "howto"),
]

AWS_PAGES = {
    "aws-lambda-developer-guide": {
        "reference": [
            "API_CreateAlias",
            "API_AddPermission",
            "API_TagResource",
            "API_GetFunctionEventInvokeConfig",
            "API_FunctionCode",
            "API_DeadLetterConfig",
            "API_AccountLimit",
            "API_UpdateFunctionCode",
            "glossary",
            "gettingstarted-limits",
            "lambda-api-permissions-ref",
            "lambda-runtimes",
            "runtimes-context",
            "python-context",
        ],
        "howto": [
            "services-apigateway-tutorial",
            "with-s3-example",
            "with-sqs-example",
            "services-rds-tutorial",
            "applications-tutorial",
            "getting-started-create-function",
            "gettingstarted-awscli",
            "with-kinesis-example",
            "python-package",
        ],
        "release_notes": ["lambda-releases"],
        "policy": ["runtime-support-policy"],
    },
    "elb-application-load-balancers-user-guide": {
        "reference": ["load-balancer-limits"],
        "howto": [
            "tutorial-application-load-balancer-cli",
            "create-application-load-balancer",
            "create-target-group",
            "create-https-listener",
        ],
        "release_notes": ["doc-history"],
    },
}


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The front matter and about ``limit`` characters of body, cut at a blank line."""
    text = text.replace("\r\n", "\n")
    m = re.match(r"\A---\n.*?\n---\n", text, re.DOTALL)
    front, body = (text[: m.end()], text[m.end() :]) if m else ("", text)
    if len(body) <= limit:
        return front + body
    cut = body.rfind("\n\n", 0, limit)
    body = body[: cut if cut > limit // 2 else limit].rstrip() + "\n"
    if body.count("```") % 2:
        body += "```\n"
    return front + body


def _deckhouse_variants(docs: Path, stem: str) -> list[tuple[Path, str]]:
    out = []
    for name, lang in ((f"{stem}.md", "en"), (f"{stem}.ru.md", "ru"), (f"{stem}_RU.md", "ru")):
        if (docs / name).exists():
            out.append((docs / name, lang))
    return out


def real_rows(demo: Path) -> list[dict[str, str]]:
    rows = []
    for module, stem, label in DECKHOUSE_PAGES:
        source, licence = DECKHOUSE[module]
        for path, lang in _deckhouse_variants(demo / "deckhouse" / module / "docs", stem):
            rel = path.relative_to(demo).as_posix()
            rows.append(
                _copy(
                    path,
                    rel,
                    label,
                    lang,
                    f"{source}:docs/{path.name}",
                    licence,
                    f"deckhouse/{module}/{stem}",
                )
            )
    for guide, by_label in AWS_PAGES.items():
        for label, stems in by_label.items():
            for stem in stems:
                path = demo / "aws" / guide / f"{stem}.md"
                rel = path.relative_to(demo).as_posix()
                source = f"{AWS[0]}:documents/{guide}/doc_source/{stem}.md"
                rows.append(_copy(path, rel, label, "en", source, AWS[1], f"aws/{guide}/{stem}"))
    return rows


def _copy(
    path: Path, rel: str, label: str, lang: str, source: str, licence: str, group: str
) -> dict[str, str]:
    target = OUT / "docs" / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(excerpt(path.read_text(encoding="utf-8")), encoding="utf-8")
    return {"path": rel, "label": label, "lang": lang, "source": source, "licence": licence, "group": group}


def written_rows() -> list[dict[str, str]]:
    rows = []
    with (OUT / "written.tsv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            rel = f"ragbot/{row['file']}"
            if not (OUT / "docs" / rel).exists():
                raise SystemExit(f"written.tsv names {rel}, which does not exist")
            rows.append(
                {
                    "path": rel,
                    "label": row["label"],
                    "lang": row["lang"],
                    "source": "written for ragbot",
                    "licence": "CC0-1.0",
                    "group": f"ragbot/{row.get('group') or row['file']}",
                }
            )
    return rows


def assign_splits(rows: list[dict[str, str]]) -> None:
    strata: dict[tuple[str, str], list[str]] = {}
    group_stratum: dict[str, tuple[str, str]] = {}
    for row in rows:
        # a group (a page and its translation) is placed by its first row's stratum
        key = group_stratum.setdefault(row["group"], (row["label"], row["lang"]))
        if row["group"] not in strata.setdefault(key, []):
            strata[key].append(row["group"])
    held_out: set[str] = set()
    for groups in strata.values():
        ordered = sorted(groups, key=lambda g: hashlib.sha256(g.encode()).hexdigest())
        held_out.update(ordered[1::3])
    for row in rows:
        row["split"] = "test" if row["group"] in held_out else "train"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--demo-docs", type=Path, default=ROOT.parent / "shared" / "demo_docs")
    args = parser.parse_args()
    rows = real_rows(args.demo_docs) + written_rows()
    assign_splits(rows)
    fields = ["path", "label", "lang", "source", "licence", "split", "group"]
    with (OUT / "labels.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda r: r["path"]))
    counts: dict[tuple[str, str, str], int] = {}
    for row in rows:
        key = (row["label"], row["lang"], row["split"])
        counts[key] = counts.get(key, 0) + 1
    for key in sorted(counts):
        print(*key, counts[key])


if __name__ == "__main__":
    main()
