"""The VectorIndex contract over the in-memory reference, the embedded Qdrant engine (qdrant-edge)
and the server backend (over qdrant-client's local mode), plus what only the Qdrant backends
promise: point layout, HNSW building in a child process, locking, and error translation."""

from __future__ import annotations

import asyncio
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from core.backends.qdrant_edge_index import QdrantEdgeIndex
from core.backends.qdrant_points import chunk_from_payload, chunk_payload, point_id
from core.backends.qdrant_server_index import QdrantServerIndex
from core.errors import ConfigError, IndexUnavailable
from core.models import SearchFilters
from core.ports import VectorIndex
from core.testing.contracts.keyword_index import make_chunk
from core.testing.contracts.vector_index import DIM, VectorIndexContract, unit
from core.testing.memory_indexes import MemoryVectorIndex

# qdrant-client's local mode stands in for the server; it says (rightly) that it ignores payload
# indexes and search params. Those warnings are about the stand-in, not the code under test.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning"),
    pytest.mark.filterwarnings("ignore:Local mode performs exact:UserWarning"),
]

A = SearchFilters("space-a")


class TestMemoryVectorIndex(VectorIndexContract):
    @pytest.fixture
    async def index(self) -> AsyncIterator[VectorIndex]:
        ix = MemoryVectorIndex()
        await ix.start()
        yield ix
        await ix.aclose()


class TestQdrantEdgeIndex(VectorIndexContract):
    @pytest.fixture
    async def index(self, tmp_path: Path) -> AsyncIterator[VectorIndex]:
        ix = QdrantEdgeIndex(tmp_path / "qdrant", dim=DIM)
        await ix.start()
        yield ix
        await ix.aclose()

    async def reopen(self, index: VectorIndex) -> VectorIndex:
        assert isinstance(index, QdrantEdgeIndex)
        await index.aclose()
        fresh = QdrantEdgeIndex(index._root, dim=DIM)
        await fresh.start()
        return fresh

    def open_with_dim(self, index: VectorIndex, dim: int) -> VectorIndex:
        assert isinstance(index, QdrantEdgeIndex)
        return QdrantEdgeIndex(index._root, dim=dim)


class TestQdrantServerIndexLocalMode(VectorIndexContract):
    @pytest.fixture
    async def index(self, tmp_path: Path) -> AsyncIterator[VectorIndex]:
        ix = QdrantServerIndex(None, dim=DIM, path=tmp_path / "local")
        await ix.start()
        yield ix
        await ix.aclose()

    async def reopen(self, index: VectorIndex) -> VectorIndex:
        assert isinstance(index, QdrantServerIndex)
        await index.aclose()
        fresh = QdrantServerIndex(None, dim=DIM, path=index._path)
        await fresh.start()
        return fresh

    def open_with_dim(self, index: VectorIndex, dim: int) -> VectorIndex:
        assert isinstance(index, QdrantServerIndex)
        return QdrantServerIndex(None, dim=dim, path=index._path)


# -- the point layout both Qdrant backends share -----------------------------------------------------


def test_point_ids_are_stable_uuid5_of_the_chunk_id() -> None:
    chunk = make_chunk("text", position=3)
    same = make_chunk("other text, same place", position=3)
    assert point_id(chunk) == point_id(same)
    assert point_id(chunk).version == 5
    assert point_id(chunk) != point_id(make_chunk("text", position=4))
    assert point_id(chunk) != point_id(make_chunk("text", position=3, space_id="space-b"))
    # Frozen: a different id for the same chunk_id would orphan every stored point.
    assert point_id(chunk) == uuid.UUID("a82471eb-180c-5caf-b402-87862a9ece90")


def test_payload_round_trips_and_foreign_points_are_refused() -> None:
    chunk = make_chunk("Текст", heading_path=("A", "B"), doc_type="faq", lang="ru", position=2)
    payload = chunk_payload(chunk)
    assert {"space_id", "doc_type", "doc_id", "version", "position", "title", "heading_path"} <= set(payload)
    assert payload["heading_path"] == ["A", "B"]
    assert chunk_from_payload(payload, where="test") == chunk
    with pytest.raises(IndexUnavailable, match="text"):
        chunk_from_payload({k: v for k, v in payload.items() if k != "text"}, where="test")


# -- the embedded engine ---------------------------------------------------------------------------


@pytest.fixture
async def edge(tmp_path: Path) -> AsyncIterator[QdrantEdgeIndex]:
    ix = QdrantEdgeIndex(tmp_path / "qdrant", dim=DIM)
    await ix.start()
    yield ix
    await ix.aclose()


def _random_unit(n: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


async def test_edge_keeps_its_shard_under_the_collection_name(tmp_path: Path) -> None:
    ix = QdrantEdgeIndex(tmp_path / "qdrant", dim=DIM, collection="team_chunks")
    await ix.start()
    try:
        await ix.upsert([make_chunk("x")], np.stack([unit(1)]))
        stats = await ix.stats()
        assert stats["points"] == 1 and stats["disk_bytes"] > 0
        assert Path(stats["path"]) == tmp_path / "qdrant" / "team_chunks"
        assert (tmp_path / "qdrant" / "team_chunks" / "edge_config.json").exists()
    finally:
        await ix.aclose()


async def test_edge_refuses_vectors_of_another_dimension(edge: QdrantEdgeIndex) -> None:
    with pytest.raises(ConfigError, match="16-dimensional"):
        await edge.upsert([make_chunk("x")], np.ones((1, DIM + 1), dtype=np.float32))
    with pytest.raises(ConfigError, match="16-dimensional"):
        await edge.search(np.ones(DIM - 1, dtype=np.float32), A, 5)


async def test_edge_shard_open_in_another_instance_is_unavailable(edge: QdrantEdgeIndex) -> None:
    second = QdrantEdgeIndex(edge._root, dim=DIM)
    with pytest.raises(IndexUnavailable, match="in use by another process"):
        await second.start()
    await second.aclose()


async def test_edge_calls_before_start_are_unavailable(tmp_path: Path) -> None:
    ix = QdrantEdgeIndex(tmp_path / "qdrant", dim=DIM)
    with pytest.raises(IndexUnavailable, match="not open"):
        await ix.search(unit(1), A, 5)
    await ix.aclose()  # closing what was never started is fine


async def test_edge_optimize_builds_hnsw_in_a_child_and_keeps_results(tmp_path: Path) -> None:
    # A 1 KB indexing threshold makes 600 points of 16 floats worth an HNSW index. Below
    # full_scan_threshold a filtered search is still exact, so the results must not move at all.
    ix = QdrantEdgeIndex(tmp_path / "qdrant", dim=DIM, indexing_threshold_kb=1, auto_optimize=False)
    await ix.start()
    try:
        vectors = _random_unit(600, seed=1)
        chunks = [
            make_chunk(
                f"p{i}",
                space_id=f"space-{i % 3}",
                doc_id=f"d{i // 10}",
                position=i % 10,
                doc_type=f"t{i % 4}",
            )
            for i in range(600)
        ]
        await ix.upsert(chunks, vectors)
        before = (await ix.stats())["indexed_vectors"]
        queries = _random_unit(5, seed=2)
        want = [await ix.search(q, SearchFilters("space-1", doc_type="t1"), 10) for q in queries]
        assert await ix.optimize() is True
        stats = await ix.stats()
        assert before == 0 and stats["indexed_vectors"] == stats["points"] == 600
        assert not (tmp_path / "qdrant" / ".ragbot_chunks.optimizing").exists()
        assert not (tmp_path / "qdrant" / ".ragbot_chunks.replaced").exists()
        got = [await ix.search(q, SearchFilters("space-1", doc_type="t1"), 10) for q in queries]
        assert [[h.chunk for h in g] for g in got] == [[h.chunk for h in w] for w in want]
        await ix.delete("space-1", "d1")  # the swapped-in shard takes writes
        assert await ix.count("space-1") == sum(
            1 for c in chunks if c.space_id == "space-1" and c.doc_id != "d1"
        )
    finally:
        await ix.aclose()
    reopened = QdrantEdgeIndex(tmp_path / "qdrant", dim=DIM, indexing_threshold_kb=1, auto_optimize=False)
    await reopened.start()
    try:
        stats = await reopened.stats()
        assert stats["indexed_vectors"] >= stats["points"] == await reopened.count()
        assert [
            h.chunk for h in await reopened.search(queries[0], SearchFilters("space-1", doc_type="t1"), 10)
        ]
    finally:
        await reopened.aclose()


async def test_edge_writes_start_the_optimizer_in_the_background(tmp_path: Path) -> None:
    ix = QdrantEdgeIndex(tmp_path / "qdrant", dim=DIM, indexing_threshold_kb=1, optimize_after_quiet_s=0)
    await ix.start()
    try:
        chunks = [make_chunk(f"p{i}", doc_id=f"d{i}") for i in range(300)]
        await ix.upsert(chunks, _random_unit(300, seed=4))
        await ix.settle()
        stats = await ix.stats()
        assert stats["indexed_vectors"] == stats["points"] == 300
        # Searches go to the swapped-in shard and still find everything.
        hits = await ix.search(_random_unit(1, seed=4)[0], A, 1)
        assert hits[0].chunk == chunks[0] and hits[0].score == pytest.approx(1.0, abs=1e-4)
    finally:
        await ix.aclose()


async def test_edge_aclose_during_an_optimise_leaves_the_shard_intact(tmp_path: Path) -> None:
    ix = QdrantEdgeIndex(tmp_path / "qdrant", dim=DIM, indexing_threshold_kb=1, auto_optimize=False)
    await ix.start()
    await ix.upsert([make_chunk(f"p{i}", doc_id=f"d{i}") for i in range(300)], _random_unit(300, seed=5))
    task = asyncio.create_task(ix.optimize())
    while ix._child is None and not task.done():  # noqa: ASYNC110 - until the child process runs
        await asyncio.sleep(0.01)
    await ix.aclose()
    assert await task is False
    reopened = QdrantEdgeIndex(tmp_path / "qdrant", dim=DIM, auto_optimize=False)
    await reopened.start()
    try:
        assert await reopened.count() == 300
        assert not (tmp_path / "qdrant" / ".ragbot_chunks.optimizing").exists()
    finally:
        await reopened.aclose()


async def test_edge_aclose_cancels_an_optimise_still_waiting_for_writes_to_pause(tmp_path: Path) -> None:
    ix = QdrantEdgeIndex(tmp_path / "qdrant", dim=DIM, indexing_threshold_kb=1, optimize_after_quiet_s=600)
    await ix.start()
    await ix.upsert([make_chunk(f"p{i}", doc_id=f"d{i}") for i in range(300)], _random_unit(300, seed=6))
    waiting = ix._optimizer
    assert waiting is not None and not waiting.done()
    await ix.aclose()  # returns at once instead of after the 600 s pause
    assert waiting.cancelled()
    reopened = QdrantEdgeIndex(tmp_path / "qdrant", dim=DIM, auto_optimize=False)
    await reopened.start()
    try:
        stats = await reopened.stats()
        assert stats["points"] == 300 and stats["indexed_vectors"] == 0
    finally:
        await reopened.aclose()


async def test_edge_recovers_from_a_crash_between_the_two_renames(tmp_path: Path) -> None:
    root = tmp_path / "qdrant"
    ix = QdrantEdgeIndex(root, dim=DIM, auto_optimize=False)
    await ix.start()
    await ix.upsert([make_chunk("survivor")], np.stack([unit(1)]))
    await ix.aclose()
    (root / "ragbot_chunks").rename(root / ".ragbot_chunks.replaced")  # as if killed mid-swap
    (root / ".ragbot_chunks.optimizing").mkdir()
    again = QdrantEdgeIndex(root, dim=DIM, auto_optimize=False)
    await again.start()
    try:
        assert [h.chunk.text for h in await again.search(unit(1), A, 5)] == ["survivor"]
        assert sorted(p.name for p in root.iterdir()) == ["ragbot_chunks"]
    finally:
        await again.aclose()


# -- the server backend: error translation against local endpoints -------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_server_unreachable_is_index_unavailable() -> None:
    ix = QdrantServerIndex(f"http://127.0.0.1:{_closed_port()}", dim=DIM, timeout=2)
    with pytest.raises(IndexUnavailable, match="unreachable"):
        await ix.start()
    await ix.aclose()


class _Refusing(BaseHTTPRequestHandler):
    """Answers every request as a Qdrant server with API keys enabled answers a wrong key."""

    seen_keys: list[str | None] = []

    def _refuse(self) -> None:
        type(self).seen_keys.append(self.headers.get("api-key"))
        body = b'{"status":{"error":"Must provide an API key or an Authorization bearer token"},"time":0.0}'
        self.send_response(401)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = _refuse

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def refusing_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection:UserWarning")
async def test_server_rejecting_the_api_key_is_a_config_error(refusing_server: str) -> None:
    _Refusing.seen_keys.clear()
    ix = QdrantServerIndex(refusing_server, dim=DIM, api_key="wrong-key")
    with pytest.raises(ConfigError, match="QDRANT_API_KEY") as err:
        await ix.start()
    assert "wrong-key" not in str(err.value)
    assert _Refusing.seen_keys == ["wrong-key"]
    await ix.aclose()


async def test_server_in_memory_mode_and_stats() -> None:
    ix = QdrantServerIndex(":memory:", dim=DIM)
    await ix.start()
    try:
        await ix.upsert([make_chunk("x"), make_chunk("y", position=1)], np.stack([unit(1), unit(0, 1)]))
        stats = await ix.stats()
        assert stats["points"] == 2 and stats["backend"] == "qdrant-server"
    finally:
        await ix.aclose()


async def test_server_local_store_locked_by_another_client_is_unavailable(tmp_path: Path) -> None:
    first = QdrantServerIndex(None, dim=DIM, path=tmp_path / "local")
    await first.start()
    try:
        second = QdrantServerIndex(None, dim=DIM, path=tmp_path / "local")
        with pytest.raises(IndexUnavailable, match="another instance"):
            await second.start()
    finally:
        await first.aclose()


def test_server_needs_exactly_one_location() -> None:
    with pytest.raises(ConfigError):
        QdrantServerIndex(None, dim=DIM)
    with pytest.raises(ConfigError):
        QdrantServerIndex("http://localhost:6333", dim=DIM, path="/tmp/x")
