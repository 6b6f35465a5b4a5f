"""`ragbot bench retrieval --chunks N`: ingestion throughput, hybrid query latency, memory and
disk at N chunks, on the production backends (embedded Qdrant, Whoosh, SQLite, e5).

Embedding 100,000 chunks here would take hours, so the run has two parts and says so:
1. a real sample (the demo documents) is embedded by the model alone and then ingested end to
   end through the pipeline, in the same run: the two throughputs are comparable;
2. the index is filled to N chunks with varied copies of the real chunks (words resampled from
   the corpus vocabulary) and perturbed copies of their real vectors, spread over 20 spaces and
   8 doc_types; real EN and RU questions are then searched with space and doc_type filters.
3. the vector index is reopened in a process of its own and searched, uncapped and under memory
   caps (``bot.bench.memory_cap``): what Qdrant needs, not what it happens to keep resident.
4. with ``keywords=("whoosh", "qdrant")`` (the default), each keyword backend (KEYWORD_INDEX) is
   built over the same N chunks (the second from the chunks the vector index stores, as
   ``ragbot reindex --keywords`` does, and timed) and searched side by side: every question goes
   to each backend in turn, keyword-only and hybrid, so machine load falls on both alike.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bot.bench.memory_cap import evict_file_pages, run_capped
from bot.bench.proc_status import status_mb
from bot.bootstrap import build_keyword_index, build_service
from bot.settings import Settings
from core.doctypes import DEFAULT_DOC_TYPES
from core.errors import CoreError
from core.eval.dataset import load_eval_set
from core.ingest.chunking import chunk_document
from core.ingest.sources import expand
from core.models import Chunk, DocumentRecord, SearchFilters
from core.ports import KeywordIndex

__all__ = ["run"]

SPACES = [f"space-{i:02d}" for i in range(20)]
DOC_TYPES = [t.name for t in DEFAULT_DOC_TYPES]
CHUNKS_PER_DOC = 10
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DOCS = ROOT / "examples" / "docs"


# What the files under the index directory are, by the directory that holds them.
_QDRANT_PARTS = ("vector_storage", "vector_index", "payload_storage", "payload_index", "wal")


def _resident_files_mb(root: Path) -> dict[str, float]:
    """Resident pages of the files mapped from under ``root``, by part (see _QDRANT_PARTS).

    The engine maps some files twice; RSS counts a page once per mapping, so each file is capped
    at its size: the figure is the physical memory the mappings hold, not RSS's double count."""
    per_file: dict[str, int] = {}
    current: str | None = None
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split(maxsplit=5)
            if len(head) >= 5 and "-" in head[0] and ":" not in head[0]:
                current = head[5].strip() if len(head) == 6 else None
                if current and not current.startswith(str(root)):
                    current = None
            elif current and line.startswith("Rss:"):
                per_file[current] = per_file.get(current, 0) + int(line.split()[1]) * 1024
    parts = dict.fromkeys((*_QDRANT_PARTS, "other"), 0.0)
    for name, rss in per_file.items():
        path = Path(name)
        size = path.stat().st_size if path.exists() else rss
        part = next((p for p in _QDRANT_PARTS if p in path.parts), "other")
        parts[part] += min(rss, size) / 2**20
    return {k: round(v, 1) for k, v in parts.items()}


def _rss_mb() -> float:
    return status_mb("VmRSS") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _disk_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6 if path.exists() else 0.0


def _allocated_mb(path: Path) -> float:
    """Bytes allocated on disk (du), not apparent sizes: Qdrant's files are sparse until written."""
    if not path.exists():
        return 0.0
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file()) / 1e6


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


async def _real_sample(service, sample_dir: Path, space: str) -> tuple[list[Chunk], dict]:
    """Embed the sample with the model alone, then ingest it end to end; same texts, same run."""
    refs, _ = expand([str(sample_dir)])
    docs = []
    for ref in refs:
        try:
            docs.append(await service.pipeline.load(ref))
        except CoreError:
            continue  # the pipeline reports and skips it the same way

    chunks = [c for d in docs for c in chunk_document(d, space, service.pipeline.chunking)]
    texts = [c.passage for c in chunks]
    await service.embedder.embed_documents(texts[:8])  # warm-up: first-call allocations
    began = time.perf_counter()
    for i in range(0, len(texts), 64):
        await service.embedder.embed_documents(texts[i : i + 64])
    model_s = time.perf_counter() - began
    began = time.perf_counter()
    report = await service.ingest(space, [str(sample_dir)])
    ingest_s = time.perf_counter() - began
    began = time.perf_counter()
    again = await service.ingest(space, [str(sample_dir)])
    reingest_s = time.perf_counter() - began
    tokens = sum(c.n_tokens for c in chunks)
    return chunks, {
        "sample_documents": len(docs),
        "sample_chunks": len(chunks),
        "sample_tokens": tokens,
        "embed_model_chunks_per_s": round(len(chunks) / model_s, 2),
        "embed_model_tokens_per_s": round(tokens / model_s, 1),
        "ingest_chunks_per_s": round(report.chunks_written / ingest_s, 2),
        "ingest_vs_model": round((report.chunks_written / ingest_s) / (len(chunks) / model_s), 3),
        "reingest_unchanged_s": round(reingest_s, 3),
        "first_ingest_s": round(ingest_s, 3),
        "reingest_share": round(reingest_s / ingest_s, 4),
        "reingest_chunks_written": again.chunks_written,
    }


def _vary(text: str, vocab: list[str], weights: np.ndarray, rng: random.Random, share: float = 0.15) -> str:
    words = text.split(" ")
    for i in range(len(words)):
        if rng.random() < share:
            words[i] = vocab[int(np.searchsorted(weights, rng.random()))]
    return " ".join(words)


async def _fill(service, real: list[Chunk], vectors: np.ndarray, n: int, rng: random.Random) -> dict:
    """Add varied copies of the real chunks until the index holds ``n`` chunks."""
    counts = Counter(w for c in real for w in c.text.split())
    vocab = [w for w, _ in counts.most_common()]
    weights = np.cumsum([counts[w] for w in vocab], dtype=np.float64)
    weights /= weights[-1]
    np_rng = np.random.default_rng(7)
    have = await service.vectors.count()
    docs_written = 0
    began = time.perf_counter()
    batch_chunks: list[Chunk] = []
    batch_vectors: list[np.ndarray] = []
    records: list[DocumentRecord] = []
    i = 0
    while have + i < n:
        doc_no = i // CHUNKS_PER_DOC
        space = SPACES[doc_no % len(SPACES)]
        doc_type = DOC_TYPES[(doc_no // len(SPACES)) % len(DOC_TYPES)]
        src = rng.randrange(len(real))
        base = real[src]
        doc_id = f"synthetic/{doc_no}"
        version = hashlib.sha256(doc_id.encode()).hexdigest()
        chunk = replace(
            base,
            space_id=space,
            doc_id=doc_id,
            version=version,
            position=i % CHUNKS_PER_DOC,
            doc_type=doc_type,
            source=f"https://docs.example/{doc_no}",
            text=_vary(base.text, vocab, weights, rng),
        )
        vec = vectors[src] + np_rng.normal(0, 0.02, vectors.shape[1]).astype(np.float32)
        batch_chunks.append(chunk)
        batch_vectors.append(vec / np.linalg.norm(vec))
        if chunk.position == 0:
            records.append(
                DocumentRecord(
                    space,
                    doc_id,
                    chunk.source,
                    base.title,
                    version,
                    doc_type,
                    base.lang,
                    CHUNKS_PER_DOC,
                    datetime.now(UTC),
                )
            )
        i += 1
        if len(batch_chunks) == 2000 or have + i >= n:
            await service.vectors.upsert(batch_chunks, np.stack(batch_vectors))
            await service.keywords.upsert(batch_chunks)
            for record in records:
                await service.store.set_live(record)
            docs_written += len(records)
            batch_chunks, batch_vectors, records = [], [], []
    fill_s = time.perf_counter() - began
    settle = getattr(service.vectors, "settle", None)  # the edge index builds its HNSW graph here
    began = time.perf_counter()
    if settle is not None:
        await settle()
    return {
        "synthetic_chunks": i,
        "synthetic_documents": docs_written,
        "fill_s": round(fill_s, 1),
        "index_build_s": round(time.perf_counter() - began, 1),
    }


async def _queries(service, questions: list[str], rng: random.Random, repeat: int = 1) -> dict:
    totals: list[float] = []
    stages: dict[str, list[float]] = {}
    for _ in range(repeat):
        for q in questions:
            filters = SearchFilters(rng.choice(SPACES), rng.choice(DOC_TYPES) if rng.random() < 0.5 else None)
            began = time.perf_counter()
            result = await service.retriever.search(q, filters, top_k=5)
            totals.append(time.perf_counter() - began)
            for stage, seconds in result.stage_seconds.items():
                stages.setdefault(stage, []).append(seconds)
    total_mean = statistics.mean(totals)
    return {
        "queries": len(totals),
        "query_p50_ms": round(_pct(totals, 50) * 1000, 2),
        "query_p95_ms": round(_pct(totals, 95) * 1000, 2),
        "stage_mean_ms": {k: round(statistics.mean(v) * 1000, 2) for k, v in stages.items()},
        # dense (embed + search) and bm25 run concurrently, so shares can add up to more than 1
        "stage_share": {k: round(statistics.mean(v) / total_mean, 3) for k, v in stages.items()},
    }


async def _build_keywords(service, index: KeywordIndex) -> float:
    """Fill ``index`` from the chunks the vector index stores (every space): seconds taken."""
    began = time.perf_counter()
    for space in [s.space_id for s in await service.store.spaces()]:
        async for batch in service.vectors.chunks(space, batch=1000):
            await index.upsert(batch)
    return time.perf_counter() - began


async def _compare(
    service, indexes: dict[str, KeywordIndex], questions: list[str], rng: random.Random
) -> dict:
    """Each question, with the same filters, to every keyword backend in turn (the order rotates),
    keyword-only and hybrid: the same load on each."""
    times: dict[str, dict[str, list[float]]] = {name: {"bm25": [], "hybrid": []} for name in indexes}
    names = list(indexes)
    for i, q in enumerate(questions):
        filters = SearchFilters(rng.choice(SPACES), rng.choice(DOC_TYPES) if rng.random() < 0.5 else None)
        for name in names[i % len(names) :] + names[: i % len(names)]:
            service.retriever.keywords = indexes[name]
            for mode in ("bm25", "hybrid"):
                began = time.perf_counter()
                await service.retriever.search(q, filters, top_k=5, mode=mode)
                times[name][mode].append(time.perf_counter() - began)
    return {
        name: {
            f"{mode}_{p}_ms": round(_pct(values, q) * 1000, 2)
            for mode, values in modes.items()
            for p, q in (("p50", 50), ("p95", 95))
        }
        for name, modes in times.items()
    }


async def run(
    chunks: int = 100_000,
    data_dir: Path | None = None,
    sample_dir: Path | None = None,
    keywords: tuple[str, ...] = ("whoosh", "qdrant"),
) -> dict:
    sample_dir = sample_dir or EXAMPLE_DOCS
    rng = random.Random(42)
    with tempfile.TemporaryDirectory(prefix="ragbot-bench-") as tmp:
        settings = Settings(data_dir=data_dir or Path(tmp), database_url=None)
        service = build_service(settings)
        await service.start(chat=False)
        try:
            rss_started = _rss_mb()
            real, sample = await _real_sample(service, sample_dir, "bench-sample")
            vectors = await service.embedder.embed_documents([c.passage for c in real])
            fill = await _fill(service, real, vectors, chunks, rng)
            questions = []
            for name in ("deckhouse_faq_enru", "xquad_enru"):
                path = ROOT.parent / "shared" / "eval" / name
                if await asyncio.to_thread(path.exists):
                    questions += [q.text for q in load_eval_set(path).queries[:100]]
            questions = questions or [c.text[:80] for c in real[:100]]
            await _queries(service, questions[:20], rng)  # warm the caches and the live-version map
            timing = await _queries(service, questions, rng)
            rss_loaded = _rss_mb()
            side_by_side = await _side_by_side(service, settings, keywords, questions)
        finally:
            await service.aclose()
        # reopen cold, one index at a time, to see what each holds in memory while serving
        memory = await _serving_memory(settings, vectors, questions)
        memory["qdrant_capped"] = await asyncio.to_thread(_capped_dense_serving, settings, vectors)
        total = await _count(settings)
        return {
            "chunks": total,
            "note": (
                f"{sample['sample_chunks']} real chunks embedded and ingested end to end; "
                f"{fill['synthetic_chunks']} synthetic chunks are varied copies with perturbed real vectors"
            ),
            "embedder": service.embedder.name,
            **sample,
            **fill,
            **timing,
            "rss_mb": round(rss_loaded, 1),
            "rss_after_start_mb": round(rss_started, 1),
            **memory,
            "disk_mb": round(_disk_mb(settings.data_dir), 1),
            "disk_qdrant_mb": round(_disk_mb(settings.data_dir / "qdrant" / settings.qdrant.collection), 1),
            "disk_whoosh_mb": round(_disk_mb(settings.data_dir / "whoosh"), 1),
            "disk_qdrant_keywords_mb": round(
                _disk_mb(settings.data_dir / "qdrant" / f"{settings.qdrant.collection}_keywords"), 1
            ),
            "disk_allocated_mb": {
                "qdrant_vectors": round(
                    _allocated_mb(settings.data_dir / "qdrant" / settings.qdrant.collection), 1
                ),
                "qdrant_keywords": round(
                    _allocated_mb(settings.data_dir / "qdrant" / f"{settings.qdrant.collection}_keywords"), 1
                ),
                "whoosh": round(_allocated_mb(settings.data_dir / "whoosh"), 1),
            },
            "keyword_backends": side_by_side,
        }


async def _side_by_side(service, settings: Settings, keywords: tuple[str, ...], questions: list[str]) -> dict:
    """Every keyword backend asked: built over the same chunks, then timed question by question."""
    if not keywords:
        return {}
    indexes: dict[str, KeywordIndex] = {}
    out: dict = {}
    configured = service.keywords
    try:
        for name in keywords:
            if name == settings.keyword_backend:
                indexes[name] = configured
                continue
            index = build_keyword_index(settings.model_copy(update={"keyword_index": name}), service.vectors)
            await index.start()
            indexes[name] = index
            out[f"{name}_build_from_stored_chunks_s"] = round(await _build_keywords(service, index), 1)
        rng = random.Random(5)
        await _compare(service, indexes, questions[:20], rng)  # warm-up
        out.update(await _compare(service, indexes, questions, rng))
    finally:
        service.retriever.keywords = configured
        for index in indexes.values():
            if index is not configured:
                await index.aclose()
    return out


async def _serving_memory(settings: Settings, vectors: np.ndarray, questions: list[str]) -> dict:
    """RSS growth from opening each index and searching it: its memory while serving."""
    service = build_service(settings)
    out = {}
    rng = np.random.default_rng(3)
    before, heap_before = _rss_mb(), status_mb("RssAnon")
    await service.vectors.start()
    try:
        for i in range(300):
            v = vectors[i % len(vectors)] + rng.normal(0, 0.05, vectors.shape[1]).astype(np.float32)
            await service.vectors.search(v / np.linalg.norm(v), SearchFilters(SPACES[i % len(SPACES)]), 50)
        out["qdrant_rss_mb"] = round(_rss_mb() - before, 1)
        out["qdrant_heap_mb"] = round(status_mb("RssAnon") - heap_before, 1)
        files = _resident_files_mb(settings.data_dir / "qdrant")
        out["qdrant_mapped_resident_mb"] = files
        out["qdrant_resident_mb"] = round(out["qdrant_heap_mb"] + sum(files.values()), 1)
    finally:
        await service.vectors.aclose()
    for name in ("whoosh", "qdrant"):
        index = build_keyword_index(settings.model_copy(update={"keyword_index": name}))
        before = _rss_mb()
        await index.start()
        try:
            if await index.count() == 0:
                continue  # not built in this run
            for i, q in enumerate(questions[:300]):
                await index.search(q, SearchFilters(SPACES[i % len(SPACES)]), 50)
            out["whoosh_rss_mb" if name == "whoosh" else "qdrant_keywords_rss_mb"] = round(
                _rss_mb() - before, 1
            )
        finally:
            await index.aclose()
    return out


# Caps on the whole search process (Python, numpy, the engine, its heap and the file pages it
# keeps): the spec's 150-250 MB per 100k vectors, and below it.
MEMORY_CAPS_MB = (250, 200)


def _capped_dense_serving(settings: Settings, vectors: np.ndarray, searches: int = 1000) -> dict:
    """Dense searches in a process of their own, each run starting with the index's files out of
    the page cache: in a cgroup without a limit (what it takes when nothing presses: the peak
    counts process memory and the page cache it reads), then under each of MEMORY_CAPS_MB.
    The same query vectors (perturbed real ones) and space filters in every run."""
    root = settings.data_dir / "qdrant"
    rng = np.random.default_rng(11)
    picks = vectors[rng.integers(0, len(vectors), searches)]
    queries = picks + rng.normal(0, 0.05, picks.shape).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="ragbot-probe-") as tmp:
        path = Path(tmp) / "queries.npy"
        np.save(path, queries.astype(np.float32))
        cmd = [sys.executable, "-m", "bot.bench.dense_probe", str(root), str(path), ",".join(SPACES)]
        for cap in (None, *MEMORY_CAPS_MB):
            name = "uncapped" if cap is None else f"cap_{cap}_mb"
            evict_file_pages(root)
            run = run_capped(cmd, cap)
            if isinstance(run, str):
                out[name] = {"skipped": run}
                continue
            out[name] = {
                **json.loads(run.stdout),
                "cgroup_peak_mb": run.peak_mb,
                "reclaims_forced": run.limit_hits,
            }
    return out


async def _count(settings: Settings) -> int:
    service = build_service(settings)
    await service.vectors.start()
    try:
        return await service.vectors.count()
    finally:
        await service.vectors.aclose()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)), indent=1))
