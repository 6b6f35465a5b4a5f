"""The KeywordIndex contract over the in-memory reference and the real Whoosh backend, plus what
only the Whoosh backend promises (field boosts, identifiers, re-analysis, locking)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from whoosh import index as whoosh_index
from whoosh.fields import ID, TEXT, Schema

from core.backends.text_analysis import TermAnalyzer
from core.backends.whoosh_index import KeywordTuning, WhooshKeywordIndex
from core.errors import IndexUnavailable
from core.models import SearchFilters
from core.ports import KeywordIndex
from core.testing.contracts.keyword_index import KeywordIndexContract, make_chunk
from core.testing.memory_indexes import MemoryKeywordIndex

A = SearchFilters("space-a")


class TestMemoryKeywordIndex(KeywordIndexContract):
    stems = False

    @pytest.fixture
    async def index(self) -> AsyncIterator[KeywordIndex]:
        ix = MemoryKeywordIndex()
        await ix.start()
        yield ix
        await ix.aclose()


class TestWhooshKeywordIndex(KeywordIndexContract):
    @pytest.fixture
    async def index(self, tmp_path: Path) -> AsyncIterator[KeywordIndex]:
        ix = WhooshKeywordIndex(tmp_path / "whoosh")
        await ix.start()
        yield ix
        await ix.aclose()

    async def reopen(self, index: KeywordIndex) -> KeywordIndex:
        assert isinstance(index, WhooshKeywordIndex)
        await index.aclose()
        fresh = WhooshKeywordIndex(index._dir)
        await fresh.start()
        return fresh


@pytest.fixture
async def whoosh(tmp_path: Path) -> AsyncIterator[WhooshKeywordIndex]:
    ix = WhooshKeywordIndex(tmp_path / "whoosh", lock_timeout_s=0.2)
    await ix.start()
    yield ix
    await ix.aclose()


async def test_title_match_outranks_a_passing_mention(whoosh: WhooshKeywordIndex) -> None:
    await whoosh.upsert(
        [
            make_chunk(
                "Steps and prerequisites are listed below.",
                doc_id="titled",
                title="Rotating TLS certificates",
            ),
            make_chunk(
                "Unrelated maintenance note; certificates are mentioned here among many other words "
                "about scheduling, rotating shifts, lunch breaks and parking.",
                doc_id="mention",
                title="Office notes",
            ),
        ]
    )
    hits = await whoosh.search("rotating certificates", A, 5)
    assert [h.chunk.doc_id for h in hits] == ["titled", "mention"]


async def test_heading_path_is_searchable(whoosh: WhooshKeywordIndex) -> None:
    await whoosh.upsert(
        [
            make_chunk(
                "Run the command below.",
                doc_id="h",
                title="Guide",
                heading_path=("Guide", "Disaster recovery"),
            ),
            make_chunk(
                "Run the command below.", doc_id="n", title="Guide", heading_path=("Guide", "Installation")
            ),
        ]
    )
    hits = await whoosh.search("disaster recovery", A, 5)
    assert [h.chunk.doc_id for h in hits] == ["h"]


async def test_identifiers_match_whole_and_by_parts(whoosh: WhooshKeywordIndex) -> None:
    await whoosh.upsert(
        [
            make_chunk("Restart kube-apiserver after changing the ModuleConfig of v1alpha1.", doc_id="id"),
            make_chunk("The module reads its config from a file.", doc_id="words"),
            make_chunk("Nothing relevant lives here at all.", doc_id="none"),
        ]
    )
    assert [h.chunk.doc_id for h in await whoosh.search("kube-apiserver", A, 5)] == ["id"]
    assert [h.chunk.doc_id for h in await whoosh.search("apiserver", A, 5)] == ["id"]
    assert [h.chunk.doc_id for h in await whoosh.search("v1alpha1", A, 5)] == ["id"]
    hits = await whoosh.search("ModuleConfig", A, 5)
    assert [h.chunk.doc_id for h in hits] == ["id", "words"]  # the whole identifier outranks its parts


async def test_exact_form_outranks_an_inflection_when_both_forms_count(tmp_path: Path) -> None:
    chunks = [
        make_chunk("Configure the cluster nodes.", doc_id="exact"),
        make_chunk("Configure the clusters nodes.", doc_id="inflected"),
    ]
    both = WhooshKeywordIndex(tmp_path / "both")
    await both.start()
    await both.upsert(chunks)
    hits = await both.search("cluster", A, 5)
    assert [h.chunk.doc_id for h in hits] == ["exact", "inflected"]
    assert hits[0].score > hits[1].score
    await both.aclose()

    stemmed_only = WhooshKeywordIndex(tmp_path / "both", tuning=KeywordTuning(exact_weight=0.0))
    await stemmed_only.start()
    hits = await stemmed_only.search("cluster", A, 5)
    assert hits[0].score == pytest.approx(hits[1].score)
    await stemmed_only.aclose()

    exact_only = WhooshKeywordIndex(tmp_path / "both", tuning=KeywordTuning(stemmed_weight=0.0))
    await exact_only.start()
    assert [h.chunk.doc_id for h in await exact_only.search("cluster", A, 5)] == ["exact"]
    await exact_only.aclose()


async def test_analysis_change_reindexes_from_stored_fields(tmp_path: Path) -> None:
    directory = tmp_path / "whoosh"
    chunk = make_chunk("The product is built with the Rust toolchain.", title="Build")
    first = WhooshKeywordIndex(directory, analyzer=TermAnalyzer(stopwords=False))
    await first.start()
    await first.upsert([chunk, make_chunk("Another chunk.", position=1)])
    assert [h.chunk for h in await first.search("the", A, 5)] == [chunk]  # "the" is a term here
    await first.aclose()

    second = WhooshKeywordIndex(directory)  # default analysis drops stopwords
    await second.start()
    assert await second.count() == 2
    assert await second.search("the", A, 5) == []
    assert [h.chunk for h in await second.search("rust toolchain", A, 5)] == [chunk]
    meta = json.loads((directory / "ragbot-keyword.json").read_text())
    assert meta["analysis"] == TermAnalyzer().fingerprint
    stats = await second.stats()
    assert stats["docs"] == 2 and stats["deleted"] == 0 and stats["disk_bytes"] > 0
    await second.aclose()


async def test_a_held_write_lock_becomes_index_unavailable(whoosh: WhooshKeywordIndex) -> None:
    lock = whoosh_index.open_dir(str(whoosh._dir)).lock("WRITELOCK")
    assert lock.acquire()
    try:
        with pytest.raises(IndexUnavailable, match="locked"):
            await whoosh.upsert([make_chunk("Blocked write.")])
        assert await whoosh.search("blocked", A, 5) == []  # reads go on
    finally:
        lock.release()
    await whoosh.upsert([make_chunk("Unblocked write.")])
    assert await whoosh.count() == 1


async def test_sees_commits_of_another_instance(whoosh: WhooshKeywordIndex) -> None:
    await whoosh.upsert([make_chunk("Harbor is the container registry.", doc_id="first")])
    assert len(await whoosh.search("registry", A, 5)) == 1
    other = WhooshKeywordIndex(whoosh._dir)  # another process, as far as the files can tell
    await other.start()
    await other.upsert([make_chunk("Mirror the registry to the DR site.", doc_id="second")])
    await other.aclose()
    assert {h.chunk.doc_id for h in await whoosh.search("registry", A, 5)} == {"first", "second"}


async def test_searches_during_writes(whoosh: WhooshKeywordIndex) -> None:
    async def write(batch: int) -> None:
        chunks = [
            make_chunk(
                f"Deployment note {batch}-{i}: rollout of service {i}.", doc_id=f"d{batch}", position=i
            )
            for i in range(20)
        ]
        await whoosh.upsert(chunks)

    async def read() -> int:
        return len(await whoosh.search("rollout service deployment", A, 10))

    results = await asyncio.gather(*(f for b in range(5) for f in (write(b), read(), read())))
    reads = [r for r in results if r is not None]
    assert len(reads) == 10 and all(0 <= r <= 10 for r in reads)
    assert await whoosh.count("space-a") == 100
    assert len(await whoosh.search("rollout service deployment", A, 10)) == 10


async def test_not_started_is_index_unavailable(tmp_path: Path) -> None:
    ix = WhooshKeywordIndex(tmp_path / "never")
    with pytest.raises(IndexUnavailable):
        await ix.search("anything", A, 5)
    with pytest.raises(IndexUnavailable):
        await ix.upsert([make_chunk("x y z")])


async def test_unreadable_directory_is_index_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    ix = WhooshKeywordIndex(blocker / "whoosh")
    with pytest.raises(IndexUnavailable):
        await ix.start()


async def test_small_commits_are_merged_and_deletions_reclaimed(whoosh: WhooshKeywordIndex) -> None:
    for i in range(40):  # the ingest pipeline upserts one document at a time
        await whoosh.upsert([make_chunk(f"Runbook step {i}: drain the node.", doc_id=f"doc-{i}")])
    stats = await whoosh.stats()
    assert stats["docs"] == 40 and stats["segments"] <= 12  # not one segment per commit

    await whoosh.upsert([make_chunk(f"Bulk note {i}.", doc_id="bulk", position=i) for i in range(20)])
    await whoosh.delete("space-a", "bulk")  # most of one segment: rewritten without them
    stats = await whoosh.stats()
    assert stats["docs"] == 40 and stats["deleted"] == 0
    assert len(await whoosh.search("drain node runbook", A, 50)) == 40


async def test_optimize_keeps_every_chunk_in_one_segment(whoosh: WhooshKeywordIndex) -> None:
    for i in range(5):
        await whoosh.upsert(
            [make_chunk(f"Alert {i} fires when disk is full.", doc_id=f"a{i}", position=j) for j in range(3)]
        )
    await whoosh.delete("space-a", "a0")
    before = await whoosh.search("disk full alert", A, 50)
    await whoosh.optimize()
    stats = await whoosh.stats()
    assert stats == {**stats, "docs": 12, "deleted": 0, "segments": 1}
    after = await whoosh.search("disk full alert", A, 50)
    assert sorted(h.chunk.chunk_id for h in after) == sorted(h.chunk.chunk_id for h in before)


async def test_index_forms_change_reindexes(tmp_path: Path) -> None:
    directory = tmp_path / "whoosh"
    chunk = make_chunk("Each cluster has three control plane nodes.")
    both = WhooshKeywordIndex(directory)
    await both.start()
    await both.upsert([chunk])
    assert [h.chunk for h in await both.search("clusters", A, 5)] == [chunk]
    await both.aclose()

    exact = WhooshKeywordIndex(directory, tuning=KeywordTuning(forms="exact"))
    await exact.start()
    assert await exact.search("clusters", A, 5) == []  # stems are gone from the index
    assert [h.chunk for h in await exact.search("cluster", A, 5)] == [chunk]
    assert json.loads((directory / "ragbot-keyword.json").read_text())["forms"] == "exact"
    await exact.aclose()


async def test_coordination_bonus_finds_the_same_chunks(whoosh: WhooshKeywordIndex) -> None:
    chunks = [
        make_chunk("backup backup backup backup of the database", doc_id="one-term"),
        make_chunk("backup of the database to object storage, restore tested", doc_id="all-terms"),
    ]
    await whoosh.upsert(chunks)
    question = "backup restore object storage"
    plain = await whoosh.search(question, A, 5)
    coord = WhooshKeywordIndex(whoosh._dir, tuning=KeywordTuning(coord=0.9))
    await coord.start()
    bonus = await coord.search(question, A, 5)
    await coord.aclose()
    assert {h.chunk.doc_id for h in bonus} == {h.chunk.doc_id for h in plain} == {"one-term", "all-terms"}
    assert [h.score for h in bonus] != [h.score for h in plain]  # the bonus is applied


async def test_an_index_it_cannot_rebuild_is_unavailable_not_half_open(tmp_path: Path) -> None:
    directory = tmp_path / "whoosh"
    directory.mkdir()
    # An index from elsewhere: no fingerprint file, and chunks stored without all their fields.
    foreign = whoosh_index.create_in(str(directory), Schema(space_id=ID(stored=True), text=TEXT(stored=True)))
    writer = foreign.writer()
    writer.add_document(space_id="space-a", text="an old chunk")
    writer.commit()
    ix = WhooshKeywordIndex(directory)
    for _ in range(2):
        with pytest.raises(IndexUnavailable, match="re-ingest"):
            await ix.start()
    with pytest.raises(IndexUnavailable):
        await ix.count()
