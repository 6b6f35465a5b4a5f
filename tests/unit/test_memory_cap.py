"""The benchmark's memory cap (a child within the cap runs and reports its peak; one that needs
more is stopped and the reason said; needs a writable cgroup memory controller, i.e. root) and
the dense probe it runs."""

import sys

import numpy as np
import pytest

from bot.bench.dense_probe import probe
from bot.bench.memory_cap import run_capped
from core.backends.qdrant_edge_index import QdrantEdgeIndex
from core.testing.contracts.keyword_index import make_chunk

_ALLOCATE = "import sys; block = bytearray(int(sys.argv[1]) * 2**20); block[::4096] = b'x' * len(block[::4096]); print('ok')"


def _capped(mb_used: int, cap: int):
    run = run_capped([sys.executable, "-c", _ALLOCATE, str(mb_used)], cap)
    if isinstance(run, str) and ("cgroup" in run or "root" in run):
        pytest.skip(run)
    return run


def test_a_child_within_the_cap_runs_and_its_peak_is_reported():
    run = _capped(20, 200)
    assert not isinstance(run, str), run
    assert run.stdout.strip() == "ok"
    assert run.peak_mb is not None and 20 <= run.peak_mb <= 200


def test_a_child_over_the_cap_is_stopped_and_the_reason_said():
    run = _capped(300, 100)
    assert isinstance(run, str)
    assert "100 MB was not enough" in run


def test_without_a_limit_the_run_is_only_accounted():
    run = _capped(150, None)
    assert not isinstance(run, str), run
    assert run.peak_mb is not None and run.peak_mb >= 150
    assert run.limit_hits == 0


async def test_the_dense_probe_searches_each_space_and_reports_latency_and_memory(tmp_path):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(40, 8)).astype(np.float32)
    chunks = [make_chunk(f"text {i}", doc_id=f"doc-{i}", space_id=f"s{i % 2}") for i in range(40)]
    index = QdrantEdgeIndex(tmp_path / "qdrant", dim=8)
    await index.start()
    await index.upsert(chunks, vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
    await index.aclose()

    out = await probe(tmp_path / "qdrant", vectors[:6], ["s0", "s1"])

    assert out["searches"] == 6
    assert 0 < out["p50_ms"] <= out["p95_ms"]
    assert out["process_after"]["rss_mb"] > 0


async def test_the_dense_probe_refuses_an_index_that_holds_none_of_the_spaces(tmp_path):
    index = QdrantEdgeIndex(tmp_path / "qdrant", dim=4)
    await index.start()
    await index.upsert([make_chunk("t", space_id="other")], np.eye(4, dtype=np.float32)[:1])
    await index.aclose()

    with pytest.raises(SystemExit, match="found nothing"):
        await probe(tmp_path / "qdrant", np.eye(4, dtype=np.float32)[:1], ["s0"])
