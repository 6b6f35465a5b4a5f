"""Child process of ``ragbot bench retrieval``: open the embedded vector index, run filtered
searches, print one JSON line (latency, memory). Run alone or under a memory cap
(``bot.bench.memory_cap``); a process of its own, so nothing else's memory is counted.

    python -m bot.bench.dense_probe DATA_DIR/qdrant QUERIES.npy SPACES

It imports the index and nothing else of ragbot (not even bot.bench.retrieval, which would load
the service): whatever this process loads counts against the cap.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import numpy as np

from core.backends.qdrant_edge_index import QdrantEdgeIndex
from core.models import SearchFilters

_CANDIDATES = 60  # RETRIEVAL_CANDIDATES: what a hybrid search asks of the dense side


def _status_mb(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def probe(root: Path, queries: np.ndarray, spaces: list[str]) -> dict:
    before = {"rss_mb": round(_status_mb("VmRSS"), 1), "anon_mb": round(_status_mb("RssAnon"), 1)}
    index = QdrantEdgeIndex(root, queries.shape[1])
    began = time.perf_counter()
    await index.start()
    open_s = time.perf_counter() - began
    latencies = []
    try:
        for i, vector in enumerate(queries):
            began = time.perf_counter()
            hits = await index.search(vector, SearchFilters(spaces[i % len(spaces)]), _CANDIDATES)
            latencies.append(time.perf_counter() - began)
            if not hits:
                raise SystemExit(f"search {i} found nothing: the index is not the benchmark's")
    finally:
        await index.aclose()
    ms = np.array(latencies) * 1000
    return {
        "searches": len(latencies),
        "open_s": round(open_s, 2),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "process_before_open": before,
        "process_after": {
            "rss_mb": round(_status_mb("VmRSS"), 1),
            "anon_mb": round(_status_mb("RssAnon"), 1),
        },
    }


if __name__ == "__main__":
    root, queries, spaces = Path(sys.argv[1]), np.load(sys.argv[2]), sys.argv[3].split(",")
    print(json.dumps(asyncio.run(probe(root, queries, spaces))))
