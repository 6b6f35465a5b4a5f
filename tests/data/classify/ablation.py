"""Which features the stage-2 model uses: cross-validated on the TRAINING split only (the
held-out split is never looked at here), for each mix of feature blocks.

    python tests/data/classify/ablation.py [--json]

Prints, per mix: macro-F1 of the model alone (out of fold, every training document) and of the
pipeline (rules first, the model for the rest, unknown under the tuned threshold)."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence

import numpy as np

from core.backends.doctype_model import TrainingConfig, train_doctype_model
from core.backends.minilm_embedder import MiniLMEmbedder
from core.classify.labelled import load_labelled
from core.classify.taxonomy import default_taxonomy

MIXES = {
    "MiniLM only": {"embedding": 1.0, "chars": 0.0, "rules": 0.0, "layout": 0.0},
    "char n-grams only": {"embedding": 0.0, "chars": 1.0, "rules": 0.0, "layout": 0.0},
    "rule evidence + layout": {"embedding": 0.0, "chars": 0.0, "rules": 1.0, "layout": 1.0},
    "MiniLM + rules + layout": {"embedding": 1.0, "chars": 0.0, "rules": 0.5, "layout": 0.5},
    "char n-grams + rules + layout": {"embedding": 0.0, "chars": 2.0, "rules": 0.5, "layout": 0.5},
    "MiniLM + char n-grams": {"embedding": 1.0, "chars": 2.0, "rules": 0.0, "layout": 0.0},
    "all, equal weights": {"embedding": 1.0, "chars": 1.0, "rules": 1.0, "layout": 1.0},
    "all, shipped weights": dict(TrainingConfig().weights),
}


class CachedEmbedder:
    """MiniLM once per text: every mix embeds the same documents."""

    def __init__(self, inner: MiniLMEmbedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.cache: dict[str, np.ndarray] = {}

    async def start(self) -> None:
        await self.inner.start()

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            for t, v in zip(missing, await self.inner.embed_documents(missing), strict=True):
                self.cache[t] = v
        return np.stack([self.cache[t] for t in texts])

    async def embed_query(self, text: str) -> np.ndarray:
        return (await self.embed_documents([text]))[0]


async def run() -> list[dict[str, object]]:
    docs = load_labelled(split="train")
    embedder = CachedEmbedder(MiniLMEmbedder(batch_size=16))
    await embedder.start()
    rows = []
    for name, weights in MIXES.items():
        report = await train_doctype_model(
            docs, default_taxonomy(), embedder, TrainingConfig(weights=weights)
        )
        rows.append(
            {
                "mix": name,
                "cv_model_macro_f1": round(report.cv_model_macro_f1, 3),
                "cv_pipeline_macro_f1": round(report.cv_pipeline_macro_f1, 3),
                "threshold": report.threshold,
            }
        )
    await embedder.aclose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    rows = asyncio.run(run())
    if parser.parse_args().json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'mix':32} {'model F1':>9} {'pipeline F1':>12} {'threshold':>10}")
    for r in rows:
        print(
            f"{r['mix']:32} {r['cv_model_macro_f1']:9.3f} {r['cv_pipeline_macro_f1']:12.3f} {r['threshold']:10.2f}"
        )


if __name__ == "__main__":
    main()
