"""The KeywordIndex contract over the in-memory reference, the real Whoosh backend and the Qdrant
sparse-vector backends (the embedded engine, and the server API through qdrant-client's local
mode), plus what only the Whoosh backend promises (field boosts, identifiers, re-analysis,
locking, one index per space, the migration from the shared index). What only the Qdrant
backends promise is in tests/contract/test_qdrant_keywords.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from whoosh import index as whoosh_index
from whoosh.fields import ID, STORED, TEXT, Schema

from core.backends.qdrant_collection import CollectionSpec, QdrantConnection
from core.backends.qdrant_keywords_edge import QdrantEdgeKeywordIndex
from core.backends.qdrant_keywords_server import QdrantServerKeywordIndex
from core.backends.text_analysis import TermAnalyzer
from core.backends.whoosh_index import KeywordTuning, WhooshKeywordIndex, migrate_shared_index, space_dir_name
from core.backends.whoosh_space import SpaceIndex, has_index
from core.errors import IndexUnavailable
from core.models import Chunk, SearchFilters
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


class TestQdrantEdgeKeywordIndex(KeywordIndexContract):
    @pytest.fixture
    async def index(self, tmp_path: Path) -> AsyncIterator[KeywordIndex]:
        ix = QdrantEdgeKeywordIndex(tmp_path / "qdrant")
        await ix.start()
        yield ix
        await ix.aclose()

    async def reopen(self, index: KeywordIndex) -> KeywordIndex:
        assert isinstance(index, QdrantEdgeKeywordIndex)
        await index.aclose()
        fresh = QdrantEdgeKeywordIndex(index.directory.parent)
        await fresh.start()
        return fresh


def local_keywords(path: Path) -> QdrantServerKeywordIndex:
    """The server backend over qdrant-client's local mode in ``path`` (a 16-d dense vector beside)."""
    return QdrantServerKeywordIndex(QdrantConnection(None, CollectionSpec(dim=16, keywords=True), path=path))


@pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning")
class TestQdrantServerKeywordIndexLocalMode(KeywordIndexContract):
    @pytest.fixture
    async def index(self, tmp_path: Path) -> AsyncIterator[KeywordIndex]:
        ix = local_keywords(tmp_path / "local")
        await ix.start()
        yield ix
        await ix.aclose()

    async def reopen(self, index: KeywordIndex) -> KeywordIndex:
        assert isinstance(index, QdrantServerKeywordIndex)
        await index.aclose()
        fresh = local_keywords(index.connection.path)
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
    other = make_chunk("The pager rota lives in the wiki.", space_id="space-b")
    first = WhooshKeywordIndex(directory, analyzer=TermAnalyzer(stopwords=False))
    await first.start()
    await first.upsert([chunk, make_chunk("Another chunk.", position=1), other])
    assert [h.chunk for h in await first.search("the", A, 5)] == [chunk]  # "the" is a term here
    await first.aclose()

    second = WhooshKeywordIndex(directory)  # default analysis drops stopwords
    await second.start()
    for space in ("space-a", "space-b"):  # every space re-indexed by start(), before any use
        meta = json.loads((directory / space / "ragbot-keyword.json").read_text())
        assert meta["analysis"] == TermAnalyzer().fingerprint and meta["space_id"] == space
    assert await second.count() == 3
    assert await second.search("the", A, 5) == []
    assert await second.search("the", SearchFilters("space-b"), 5) == []
    assert [h.chunk for h in await second.search("rust toolchain", A, 5)] == [chunk]
    assert [h.chunk for h in await second.search("pager rota", SearchFilters("space-b"), 5)] == [other]
    stats = await second.stats()
    assert stats["docs"] == 3 and stats["deleted"] == 0 and stats["disk_bytes"] > 0
    assert stats["spaces"] == 2 and stats["by_space"]["space-a"]["docs"] == 2
    await second.aclose()


async def test_a_held_write_lock_becomes_index_unavailable(whoosh: WhooshKeywordIndex) -> None:
    await whoosh.upsert([make_chunk("First write.", doc_id="first")])
    lock = whoosh_index.open_dir(str(whoosh.space_directory("space-a"))).lock("WRITELOCK")
    assert lock.acquire()
    try:
        with pytest.raises(IndexUnavailable, match="locked"):
            await whoosh.upsert([make_chunk("Blocked write.")])
        assert await whoosh.search("blocked", A, 5) == []  # reads go on
        await whoosh.upsert([make_chunk("Another space writes on.", space_id="space-b")])  # its own lock
        assert await whoosh.count("space-b") == 1
    finally:
        lock.release()
    await whoosh.upsert([make_chunk("Unblocked write.")])
    assert await whoosh.count("space-a") == 2


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
    assert json.loads((directory / "space-a" / "ragbot-keyword.json").read_text())["forms"] == "exact"
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


@pytest.mark.parametrize(
    ("where", "fields"),
    [
        # the old shared layout, at the top of the directory
        ("", {"space_id": "space-a", "text": "an old chunk"}),
        # one space's own index
        ("space-a", {"text": "an old chunk"}),
    ],
    ids=["shared", "one-space"],
)
async def test_an_index_it_cannot_rebuild_is_unavailable_not_half_open(
    tmp_path: Path, where: str, fields: dict[str, str]
) -> None:
    directory = tmp_path / "whoosh"
    (directory / where).mkdir(parents=True)
    # An index from elsewhere: no fingerprint file, and chunks stored without all their fields.
    schema = Schema(**{name: ID(stored=True) if name == "space_id" else TEXT(stored=True) for name in fields})
    foreign = whoosh_index.create_in(str(directory / where), schema)
    writer = foreign.writer()
    writer.add_document(**fields)
    writer.commit()
    ix = WhooshKeywordIndex(directory)
    for _ in range(2):
        with pytest.raises(IndexUnavailable, match="re-ingest"):
            await ix.start()
    with pytest.raises(IndexUnavailable):
        await ix.count()


# -- one index per space -------------------------------------------------------------------------

_CERTS = [
    make_chunk("Certificates of the ingress controller rotate every 90 days.", doc_id="certs", title="TLS"),
    make_chunk("The ingress controller runs two replicas behind the load balancer.", doc_id="ingress"),
    make_chunk("Rotate the on-call pager every Monday.", doc_id="rota", title="On-call"),
]
_CROWD = [
    make_chunk(
        f"Certificates, certificates: the ingress certificates rotate. Note {i} on the load balancer.",
        space_id="space-b",
        doc_id=f"b-{i}",
        title="Certificates",
    )
    for i in range(40)
]
_QUESTIONS = ["rotate ingress certificates", "load balancer replicas", "on-call pager", "сертификаты"]


async def _ranked(index: WhooshKeywordIndex, space_id: str) -> list[list[tuple[Chunk, float]]]:
    return [
        [(h.chunk, h.score) for h in await index.search(q, SearchFilters(space_id), 10)] for q in _QUESTIONS
    ]


async def test_a_space_scores_exactly_as_in_an_index_of_its_own(tmp_path: Path) -> None:
    alone = WhooshKeywordIndex(tmp_path / "alone")
    together = WhooshKeywordIndex(tmp_path / "together")
    for ix in (alone, together):
        await ix.start()
    await alone.upsert(_CERTS)
    await together.upsert([*_CROWD[:20], *_CERTS, *_CROWD[20:]])  # one call, spaces interleaved
    expected = await _ranked(alone, "space-a")
    assert expected[0] and expected[0][0][0].doc_id == "certs"
    assert await _ranked(together, "space-a") == expected

    # The statistics are the space's own: the same chunk scores lower in B, where its terms are common.
    twin = make_chunk(_CERTS[0].text, space_id="space-b", doc_id="certs", title="TLS")
    await together.upsert([twin])
    in_b = {
        h.chunk.doc_id: h.score for h in await together.search(_QUESTIONS[0], SearchFilters("space-b"), 50)
    }
    assert in_b["certs"] < expected[0][0][1]
    assert await _ranked(together, "space-a") == expected
    for ix in (alone, together):
        await ix.aclose()


async def test_drop_space_removes_its_directory(whoosh: WhooshKeywordIndex) -> None:
    await whoosh.upsert([*_CERTS, *_CROWD])
    a_dir = whoosh.space_directory("space-a")
    assert a_dir.is_dir() and has_index(a_dir)
    searches = [whoosh.search("ingress certificates", A, 5) for _ in range(4)]
    results = await asyncio.gather(whoosh.drop_space("space-a"), *searches)  # reads during the drop
    assert all(r is None or all(h.chunk.space_id == "space-a" for h in r) for r in results)
    assert not a_dir.exists()
    assert [p.name for p in whoosh._dir.iterdir()] == ["space-b"]  # nothing of A left behind
    assert await whoosh.search("ingress certificates", A, 5) == []
    stats = await whoosh.stats()
    assert stats["spaces"] == 1 and stats["docs"] == len(_CROWD) and list(stats["by_space"]) == ["space-b"]


async def test_start_opens_no_space_and_a_read_opens_only_its_own(tmp_path: Path) -> None:
    directory = tmp_path / "whoosh"
    first = WhooshKeywordIndex(directory)
    await first.start()
    await first.upsert(
        [make_chunk(f"Runbook {i}: restart the worker.", space_id=f"team-{i}") for i in range(5)]
    )
    await first.aclose()

    ix = WhooshKeywordIndex(directory)
    await ix.start()
    assert ix._spaces == {}
    hits = await ix.search("restart worker", SearchFilters("team-2"), 5)
    assert [h.chunk.space_id for h in hits] == ["team-2"]
    assert await ix.search("restart worker", SearchFilters("team-unknown"), 5) == []
    assert await ix.count("team-unknown") == 0
    await ix.delete("team-unknown", "doc-1")
    assert list(ix._spaces) == ["team-2"]  # unknown spaces leave nothing behind
    assert await ix.count() == 5
    stats = await ix.stats()
    assert stats["spaces"] == 5 and stats["open_readers"] == 1
    await ix.aclose()


async def test_many_spaces_keep_a_bounded_number_of_readers_open(tmp_path: Path) -> None:
    ix = WhooshKeywordIndex(tmp_path / "whoosh", max_open_readers=8)
    await ix.start()
    n = 40
    await ix.upsert(
        [
            make_chunk(f"Team {i} keeps token{i} in the vault; the pager rota is shared.", **where(i, j))
            for i in range(n)
            for j in range(3)
        ]
    )
    for _ in range(2):  # the second round reopens readers the first one closed
        for i in range(n):
            hits = await ix.search(f"token{i} pager", SearchFilters(f"team-{i:02d}"), 10)
            assert len(hits) == 3 and {h.chunk.space_id for h in hits} == {f"team-{i:02d}"}
            assert all(f"token{i}" in h.chunk.text for h in hits)
    stats = await ix.stats()
    assert stats["spaces"] == n and stats["docs"] == 3 * n and stats["open_readers"] == 8
    assert sum(1 for space in ix._spaces.values() if space.index._searcher is not None) == 8
    assert await ix.count() == 3 * n and await ix.count("team-07") == 3
    await ix.aclose()


def where(i: int, j: int) -> dict[str, object]:
    return {"space_id": f"team-{i:02d}", "doc_id": f"doc-{j}"}


async def test_writes_to_different_spaces_and_reads_interleave(whoosh: WhooshKeywordIndex) -> None:
    async def write(space_id: str, batch: int) -> None:
        await whoosh.upsert(
            [
                make_chunk(
                    f"Deploy note {batch}-{i}: rollout {space_id}.",
                    space_id=space_id,
                    doc_id=f"d{batch}",
                    position=i,
                )
                for i in range(10)
            ]
        )

    async def read(space_id: str) -> list[str]:
        return [h.chunk.space_id for h in await whoosh.search("deploy rollout", SearchFilters(space_id), 50)]

    jobs = [job for b in range(4) for s in ("space-a", "space-b") for job in (write(s, b), read(s))]
    results = await asyncio.gather(*jobs)
    for space, seen in zip([s for _ in range(4) for s in ("space-a", "space-b")], results[1::2], strict=True):
        assert set(seen) <= {space}
    assert await whoosh.count("space-a") == await whoosh.count("space-b") == 40


def test_space_directory_names() -> None:
    assert space_dir_name("space-a") == "space-a"
    assert space_dir_name("Team_1.prod") == "Team_1.prod"
    for odd in ("", "..", ".hidden", "a/b", "Команда", "x" * 65, "MAIN_WRITELOCK", "ragbot-keyword.json"):
        name = space_dir_name(odd)
        assert name.startswith("_space-") and len(name) == len("_space-") + 32, odd
    assert space_dir_name("a/b") != space_dir_name("a/c")


async def test_a_space_id_that_is_no_plain_name_lives_in_a_hashed_directory(tmp_path: Path) -> None:
    directory = tmp_path / "whoosh"
    odd = "Команда/../ops"
    ix = WhooshKeywordIndex(directory)
    await ix.start()
    await ix.upsert([make_chunk("Pager duty swaps on Fridays.", space_id=odd), make_chunk("Pager.")])
    assert ix.space_directory(odd).parent == directory
    assert sorted(p.name for p in directory.iterdir()) == sorted([space_dir_name(odd), "space-a"])
    await ix.aclose()

    ix = WhooshKeywordIndex(directory)
    await ix.start()
    hits = await ix.search("pager duty", SearchFilters(odd), 5)
    assert [h.chunk.space_id for h in hits] == [odd]
    assert await ix.count() == 2 and set((await ix.stats())["by_space"]) == {odd, "space-a"}
    await ix.drop_space(odd)
    assert [p.name for p in directory.iterdir()] == ["space-a"]
    await ix.aclose()


# -- migration from the shared index ---------------------------------------------------------------


def _shared_schema() -> Schema:
    """The schema of the index shared by all spaces (before one index per space): space_id indexed."""
    return Schema(
        chunk_id=ID(stored=True, unique=True),
        space_id=ID(stored=True),
        doc_id=ID(stored=True),
        version=ID(stored=True),
        doc_type=ID(stored=True),
        position=STORED(),
        title=STORED(),
        heading_path=STORED(),
        text=STORED(),
        source=STORED(),
        lang=STORED(),
        n_tokens=STORED(),
        terms_x=TEXT(),
        terms_s=TEXT(),
    )


def _write_shared_index(directory: Path, chunks: list[Chunk], gone: list[Chunk]) -> None:
    """A shared index as the old layout left it, written with plain Whoosh: every space's chunks in
    one index at the top of ``directory``, two segments, ``gone`` deleted, a fingerprint file."""
    directory.mkdir(parents=True)
    ix = whoosh_index.create_in(str(directory), _shared_schema())
    half = len(chunks) // 2
    for part, compound in ((chunks[:half] + gone, False), (chunks[half:], True)):
        writer = ix.writer(compound=compound)
        for c in part:
            writer.add_document(
                chunk_id=c.chunk_id,
                space_id=c.space_id,
                doc_id=c.doc_id,
                version=c.version,
                doc_type=c.doc_type,
                position=c.position,
                title=c.title,
                heading_path=list(c.heading_path),
                text=c.text,
                source=c.source,
                lang=c.lang,
                n_tokens=c.n_tokens,
                terms_x=f"{c.title} {c.text}",
                terms_s=f"{c.title} {c.text}",
            )
        writer.commit(merge=False)
    writer = ix.writer()
    for c in gone:
        writer.delete_by_term("chunk_id", c.chunk_id)
    writer.commit(merge=False)
    meta = {"schema": 2, "analysis": "old", "forms": "both", "title_weight": 2.0, "headings_weight": 1.5}
    (directory / "ragbot-keyword.json").write_text(json.dumps(meta))


_ODD_SPACE = "Команда ops"
_SHARED = [
    *_CERTS,
    *_CROWD[:10],
    make_chunk("Ротация сертификатов ingress раз в квартал.", space_id=_ODD_SPACE, doc_id="ru", lang="ru"),
    *[make_chunk(f"Runbook {i}: rotate the pager.", space_id=_ODD_SPACE, doc_id=f"r{i}") for i in range(3)],
]
_GONE = [make_chunk("Deleted before the move: ingress certificates.", doc_id="gone")]


async def test_a_shared_index_is_moved_into_one_index_per_space(tmp_path: Path) -> None:
    directory = tmp_path / "whoosh"
    _write_shared_index(directory, _SHARED, _GONE)
    moved = WhooshKeywordIndex(directory)
    await moved.start()
    names = sorted(p.name for p in directory.iterdir())
    assert names == sorted(["space-a", "space-b", space_dir_name(_ODD_SPACE)])  # no shared file left
    assert await moved.count() == len(_SHARED)
    assert [await moved.count(s) for s in ("space-a", "space-b", _ODD_SPACE)] == [3, 10, 4]

    built = WhooshKeywordIndex(tmp_path / "built")  # the same chunks upserted afresh
    await built.start()
    await built.upsert(_SHARED)
    for space in ("space-a", "space-b", _ODD_SPACE):
        assert await _ranked(moved, space) == await _ranked(built, space), space
    await built.aclose()

    await moved.aclose()
    again = WhooshKeywordIndex(directory)
    await again.start()  # nothing left to move
    assert await again.count() == len(_SHARED)
    assert (await again.search("ingress certificates", A, 5))[0].chunk.doc_id == "certs"
    await again.aclose()


async def test_an_interrupted_migration_finishes_at_the_next_start(tmp_path: Path) -> None:
    directory = tmp_path / "whoosh"
    _write_shared_index(directory, _SHARED, _GONE)
    written: list[str] = []

    def one_space_then_stop(space_id: str) -> SpaceIndex:
        if written:
            raise RuntimeError("the process stopped")
        written.append(space_id)
        return SpaceIndex(
            directory / space_dir_name(space_id),
            space_id,
            tuning=KeywordTuning(),
            analyzer=TermAnalyzer(),
            lock_timeout_s=1.0,
            writer_limitmb=32,
        )

    with pytest.raises(RuntimeError):
        migrate_shared_index(directory, one_space_then_stop)
    assert has_index(directory) and has_index(directory / space_dir_name(written[0]))

    ix = WhooshKeywordIndex(directory)
    await ix.start()
    assert not has_index(directory)
    assert await ix.count() == len(_SHARED)  # the space written twice holds each chunk once
    assert [await ix.count(s) for s in ("space-a", "space-b", _ODD_SPACE)] == [3, 10, 4]
    await ix.aclose()


async def test_a_locked_shared_index_is_not_moved(tmp_path: Path) -> None:
    directory = tmp_path / "whoosh"
    _write_shared_index(directory, _SHARED, [])
    lock = whoosh_index.open_dir(str(directory)).lock("WRITELOCK")
    assert lock.acquire()
    try:
        ix = WhooshKeywordIndex(directory)
        with pytest.raises(IndexUnavailable, match="locked"):
            await ix.start()
    finally:
        lock.release()
    assert has_index(directory)
    await ix.start()
    assert await ix.count() == len(_SHARED)
    await ix.aclose()


async def test_a_shared_index_with_an_incomplete_chunk_is_left_as_it_was(tmp_path: Path) -> None:
    directory = tmp_path / "whoosh"
    _write_shared_index(directory, _SHARED, [])
    writer = whoosh_index.open_dir(str(directory), schema=_shared_schema()).writer()
    writer.add_document(chunk_id="x", space_id="space-z", text="a chunk without its other fields")
    writer.commit()
    before = sorted(p.name for p in directory.iterdir())
    ix = WhooshKeywordIndex(directory)
    with pytest.raises(IndexUnavailable, match="re-ingest"):
        await ix.start()
    assert sorted(p.name for p in directory.iterdir()) == before  # checked before anything is written
