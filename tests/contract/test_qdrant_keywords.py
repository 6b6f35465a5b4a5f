"""What only the Qdrant keyword backends promise, beyond the KeywordIndex contract
(tests/contract/test_keyword_index.py runs that over both): the sparse encoding ranks as the Whoosh
index does, the vector and keyword indexes share a server collection's points without erasing each
other's half, a collection made before KEYWORD_INDEX=qdrant gains the keyword vector, and the joint
search answers a question in one request with the lists the two indexes give apart.

The server is qdrant-client's local mode (the server's API in process)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import AsyncQdrantClient, models

from core.backends.qdrant_collection import CollectionSpec, QdrantConnection
from core.backends.qdrant_keywords_server import QdrantJointSearch, QdrantServerKeywordIndex
from core.backends.qdrant_server_index import QdrantServerIndex
from core.backends.sparse_terms import KEYWORD_VECTOR, SparseEncoder, SparseTuning
from core.backends.whoosh_index import WhooshKeywordIndex
from core.backends.whoosh_space import KeywordTuning
from core.models import SearchFilters
from core.service import RagService
from core.settings import CoreSettings
from core.testing.contracts.keyword_index import make_chunk
from core.testing.contracts.vector_index import DIM, unit
from core.testing.hash_embedder import HashEmbedder
from core.testing.memory_store import MemoryStore
from core.testing.scripted_chat import ScriptedChatModel

pytestmark = [pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning")]

A = SearchFilters("space-a")

CHUNKS = [
    make_chunk(
        "Restart kube-apiserver after changing the ModuleConfig of v1alpha1.",
        doc_id="id",
        title="Control plane",
    ),
    make_chunk("Certificates renew automatically; expiring ones page on-call.", doc_id="certs", title="TLS"),
    make_chunk("Кластер состоит из трёх мастер-узлов и пяти рабочих узлов.", doc_id="ru", lang="ru"),
    make_chunk("The on-call rotation changes every Monday morning.", doc_id="oncall", title="On-call"),
    make_chunk("Each bucket policy grants read access to one role.", doc_id="s3", title="S3"),
]
QUESTIONS = [
    "kube-apiserver",
    "ModuleConfig",
    "certificates renew",
    "сколько узлов у кластера",
    "bucket policies",
]


@pytest.fixture
async def shared(tmp_path: Path) -> AsyncIterator[tuple[QdrantServerIndex, QdrantServerKeywordIndex]]:
    """The two halves of one local-mode collection, as bootstrap wires them with QDRANT_URL."""
    conn = QdrantConnection(None, CollectionSpec(dim=DIM, keywords=True), path=tmp_path / "local")
    vectors = QdrantServerIndex(None, DIM, connection=conn)
    keywords = QdrantServerKeywordIndex(conn)
    await vectors.start()
    await keywords.start()
    yield vectors, keywords
    await keywords.aclose()
    await vectors.aclose()


def _vectors(n: int, first: int = 0) -> np.ndarray:
    """Chunk CHUNKS[k] gets the k-th axis."""
    return np.stack([unit(*([0.0] * i), 1.0) for i in range(first, first + n)])


# -- the encoding -----------------------------------------------------------------------------------


def test_sparse_tuning_defaults_are_the_whoosh_index_defaults() -> None:
    # One ranking for both backends: the field weights and BM25 parameters must not drift apart.
    sparse, whoosh = SparseTuning(), KeywordTuning()
    for name in (
        "title_weight",
        "headings_weight",
        "exact_weight",
        "stemmed_weight",
        "k1",
        "b",
        "max_query_terms",
    ):
        assert getattr(sparse, name) == getattr(whoosh, name), name


def test_encoding_is_stable_and_follows_bm25() -> None:
    enc = SparseEncoder()
    q = enc.query("Rotate certificates")
    # Exact forms and stems in distinct index ranges; hashing is fixed (stored vectors depend on it).
    assert len(q.indices) == 4 and len(set(q.indices)) == 4 and q.values == [1.0] * 4
    assert SparseEncoder().query("Rotate certificates") == q
    # Frozen: other indices for the same terms would leave every stored vector unmatched.
    assert {2971463709, 3466467187} <= set(enc.query("rotate").indices)
    assert enc.query("?!").indices == [] and not enc.query("the of and")
    short = enc.document(make_chunk("certificates rotate", title=""))
    long = enc.document(make_chunk("certificates rotate " + "filler words here " * 40, title=""))
    rep = enc.document(make_chunk("certificates certificates certificates rotate", title=""))
    value = dict(zip(short.indices, short.values, strict=True))
    cert = next(i for i in q.indices if i in value and value[i] > 0)
    assert dict(zip(long.indices, long.values, strict=True))[cert] < value[cert]  # length normalisation
    rep_value = dict(zip(rep.indices, rep.values, strict=True))[cert]
    assert value[cert] < rep_value < 3 * value[cert] and rep_value < SparseTuning().k1 + 1  # saturation
    titled = enc.document(make_chunk("rotate", title="Certificates"))
    assert dict(zip(titled.indices, titled.values, strict=True))[cert] > 0  # the title counts


async def test_sparse_ranks_like_the_whoosh_index(tmp_path: Path) -> None:
    whoosh = WhooshKeywordIndex(tmp_path / "whoosh")
    conn = QdrantConnection(None, CollectionSpec(dim=DIM, keywords=True), path=tmp_path / "local")
    sparse = QdrantServerKeywordIndex(conn)
    for ix in (whoosh, sparse):
        await ix.start()
        await ix.upsert(CHUNKS)
    try:
        for question in QUESTIONS:
            w = [h.chunk.doc_id for h in await whoosh.search(question, A, 5)]
            s = [h.chunk.doc_id for h in await sparse.search(question, A, 5)]
            assert s == w and s, question
    finally:
        await sparse.aclose()
        await whoosh.aclose()


# -- shared points -----------------------------------------------------------------------------------


async def test_each_index_writes_and_deletes_only_its_half_of_a_point(
    shared: tuple[QdrantServerIndex, QdrantServerKeywordIndex],
) -> None:
    vectors, keywords = shared
    first, second = CHUNKS[:2], CHUNKS[2:4]
    await vectors.upsert(first, _vectors(2))  # dense first, then keywords
    await keywords.upsert(first)
    await keywords.upsert(second)  # keywords first, then dense
    await vectors.upsert(second, _vectors(2, first=2))
    assert await vectors.count("space-a") == await keywords.count("space-a") == 4
    assert [h.chunk.doc_id for h in await keywords.search("kube-apiserver", A, 5)] == ["id"]
    assert (await vectors.search(unit(1.0), A, 1))[0].chunk.doc_id == "id"
    assert (await vectors.search(unit(0, 0, 1.0), A, 1))[0].chunk.doc_id == "ru"

    await keywords.delete("space-a", "id")  # the dense half stays searchable
    assert await keywords.search("kube-apiserver", A, 5) == []
    assert (await vectors.search(unit(1.0), A, 1))[0].chunk.doc_id == "id"
    await vectors.delete("space-a", "ru")  # the keyword half stays searchable
    assert [h.chunk.doc_id for h in await keywords.search("сколько узлов у кластера", A, 5)] == ["ru"]
    assert "ru" not in {h.chunk.doc_id for h in await vectors.search(unit(0, 0, 1.0), A, 5)}
    assert (await vectors.count("space-a"), await keywords.count("space-a")) == (3, 3)

    await vectors.delete("space-a", "id")
    await keywords.delete("space-a", "ru")
    await vectors.drop_space("space-a")
    await keywords.drop_space("space-a")
    client = vectors.connection.client()
    assert (await client.count(vectors.connection.collection, exact=True)).count == 0  # no empty points left


async def test_chunks_of_the_vector_index_rebuild_the_keyword_index(
    shared: tuple[QdrantServerIndex, QdrantServerKeywordIndex],
) -> None:
    vectors, keywords = shared
    await vectors.upsert(CHUNKS, _vectors(len(CHUNKS)))
    assert await keywords.count("space-a") == 0
    async for batch in vectors.chunks("space-a", batch=2):
        await keywords.upsert(batch)
    assert await keywords.count("space-a") == len(CHUNKS)
    assert [h.chunk for h in await keywords.search("bucket policies", A, 1)] == [CHUNKS[4]]


async def test_a_collection_made_before_gains_the_keyword_vector_and_keeps_its_points(tmp_path: Path) -> None:
    path = tmp_path / "local"
    old = QdrantServerIndex(None, DIM, path=path)  # KEYWORD_INDEX=whoosh: dense only
    await old.start()
    await old.upsert(CHUNKS, _vectors(len(CHUNKS)))
    await old.aclose()

    conn = QdrantConnection(None, CollectionSpec(dim=DIM, keywords=True), path=path)
    vectors, keywords = QdrantServerIndex(None, DIM, connection=conn), QdrantServerKeywordIndex(conn)
    await vectors.start()
    await keywords.start()
    try:
        info = await conn.info()
        assert info.config.params.sparse_vectors[KEYWORD_VECTOR].modifier == models.Modifier.IDF
        assert await vectors.count() == len(CHUNKS) and await keywords.count() == 0
        async for batch in vectors.chunks("space-a"):
            await keywords.upsert(batch)
        assert await vectors.count() == await keywords.count() == len(CHUNKS)
        assert (await vectors.search(unit(1.0), A, 1))[0].chunk.doc_id == "id"
    finally:
        await keywords.aclose()
        await vectors.aclose()


# -- one request per question -------------------------------------------------------------------------


class _Counting(AsyncQdrantClient):
    """The real local-mode client, counting the search requests it is sent."""

    calls: list[str] = []

    async def query_points(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201 - a pass-through
        type(self).calls.append("query_points")
        return await super().query_points(*args, **kwargs)

    async def query_batch_points(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201 - a pass-through
        type(self).calls.append("query_batch_points")
        return await super().query_batch_points(*args, **kwargs)


async def test_joint_search_sends_one_request_and_returns_what_two_would(
    shared: tuple[QdrantServerIndex, QdrantServerKeywordIndex],
) -> None:
    vectors, keywords = shared
    await vectors.upsert(CHUNKS, _vectors(len(CHUNKS)))
    await keywords.upsert(CHUNKS)
    await keywords.upsert([make_chunk("Certificates elsewhere.", space_id="space-b", doc_id="b")])
    joint = QdrantJointSearch(vectors, keywords)
    conn = vectors.connection
    conn._client.__class__ = _Counting  # the same engine and data, now counted
    for question, vector, filters in (
        ("certificates renew", unit(0, 1.0), A),
        ("certificates", unit(0, 1.0), SearchFilters("space-a", doc_type="guide")),
        ("сколько узлов", unit(0, 0, 1.0), A),
    ):
        _Counting.calls.clear()
        dense, sparse = await joint.search(vector, question, filters, 10)
        assert _Counting.calls == ["query_batch_points"]
        assert dense == await vectors.search(vector, filters, 10)
        assert sparse == await keywords.search(question, filters, 10)
        assert sparse and {h.chunk.space_id for h in dense + sparse} == {"space-a"}
    _Counting.calls.clear()
    dense, sparse = await joint.search(unit(1.0), "?!", A, 10)  # no term: the dense search alone
    assert sparse == [] and dense and _Counting.calls == ["query_points"]


async def test_a_hybrid_question_through_the_service_is_one_request(tmp_path: Path) -> None:
    """The retriever uses the joint search wired in: one request per hybrid question, and the
    fused hits carry both retrievers' ranks."""
    conn = QdrantConnection(":memory:", CollectionSpec(dim=64, keywords=True))
    vectors, keywords = QdrantServerIndex(":memory:", 64, connection=conn), QdrantServerKeywordIndex(conn)
    service = RagService.assemble(
        settings=CoreSettings(),
        store=MemoryStore(),
        embedder=HashEmbedder(),
        vectors=vectors,
        keywords=keywords,
        chat=ScriptedChatModel(),
        joint=QdrantJointSearch(vectors, keywords),
    )
    for name, text in (
        ("certs.md", "# TLS\n\nCertificates of the ingress controller rotate every 90 days."),
        ("vpn.md", "# VPN\n\nThe VPN gateway listens on port 1194 for OpenVPN clients."),
    ):
        (tmp_path / name).write_text(text)
    await service.start(chat=False)
    try:
        report = await service.ingest("ops", [str(tmp_path)])
        assert report.ok and report.chunks_written == 2
        conn._client.__class__ = _Counting
        _Counting.calls.clear()
        result = await service.search("when do certificates rotate?", "ops", mode="hybrid")
        assert _Counting.calls == ["query_batch_points"]
        assert "joint" in result.stage_seconds and "bm25" not in result.stage_seconds
        top = result.hits[0]
        assert "Certificates" in top.chunk.text and set(top.ranks) == {"dense", "bm25"}
        _Counting.calls.clear()
        result = await service.search("OpenVPN port", "ops", mode="bm25")
        assert _Counting.calls == ["query_points"] and "OpenVPN" in result.hits[0].chunk.text
    finally:
        await service.aclose()
