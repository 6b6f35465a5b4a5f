"""Child process of ``ragbot bench retrieval``: open the embedded vector index, run filtered
searches, print one JSON line (latency, memory). Run alone or under a memory cap
(``bot.bench.memory_cap``); a process of its own, so nothing else's memory is counted.

    python -m bot.bench.dense_probe DATA_DIR/qdrant QUERIES.npy SPACES

It imports the index and bot.bench.proc_status, nothing else of ragbot (not even
bot.bench.retrieval, which would load the service): whatever this process loads counts against
the cap.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import numpy as np

from bot.bench.proc_status import status_mb
from core.backends.qdrant_edge_index import QdrantEdgeIndex
from core.models import SearchFilters

_CANDIDATES = 60  # RETRIEVAL_CANDIDATES: what a hybrid search asks of the dense side


async def probe(root: Path, queries: np.ndarray, spaces: list[str]) -> dict:
    before = {"rss_mb": round(status_mb("VmRSS"), 1), "anon_mb": round(status_mb("RssAnon"), 1)}
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
            "rss_mb": round(status_mb("VmRSS"), 1),
            "anon_mb": round(status_mb("RssAnon"), 1),
        },
    }


if __name__ == "__main__":
    root, queries, spaces = Path(sys.argv[1]), np.load(sys.argv[2]), sys.argv[3].split(",")
    print(json.dumps(asyncio.run(probe(root, queries, spaces))))
