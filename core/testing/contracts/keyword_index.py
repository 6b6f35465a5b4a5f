"""The contract every ``KeywordIndex`` passes: the in-memory reference and the real backends.

Use it by subclassing in a test module and providing the ``index`` fixture (a started, empty
index; close it after the test). Override ``reopen`` when an index can be reopened from disk by a
new instance, so the persistence test means something. Set ``stems = False`` for an index without
stemming (the in-memory reference): the inflection tests are skipped for it, and say so.
"""

from __future__ import annotations

from typing import ClassVar

import pytest

from core.models import Chunk, SearchFilters
from core.ports import KeywordIndex

__all__ = ["KeywordIndexContract", "make_chunk"]


def make_chunk(
    text: str,
    *,
    space_id: str = "space-a",
    doc_id: str = "doc-1",
    version: str = "v1" + "0" * 62,
    position: int = 0,
    title: str = "Untitled",
    heading_path: tuple[str, ...] = (),
    source: str | None = None,
    doc_type: str = "guide",
    lang: str = "en",
) -> Chunk:
    return Chunk(
        space_id=space_id,
        doc_id=doc_id,
        version=version,
        position=position,
        title=title,
        heading_path=heading_path,
        text=text,
        source=source if source is not None else f"docs/{doc_id}.md",
        doc_type=doc_type,
        lang=lang,
        n_tokens=len(text.split()),
    )


_FILLER = [
    "Invoices are sent to the finance team at the end of each month.",
    "The office kitchen is cleaned every Friday afternoon by the facilities crew.",
    "Holiday requests go through the people portal two weeks in advance.",
    "Parking permits are renewed each January at the front desk.",
    "The coffee machine on the third floor takes oat milk cartons.",
    "Visitors sign in at reception and wear a badge at all times.",
]


class KeywordIndexContract:
    stems: ClassVar[bool] = True

    @pytest.fixture
    def index(self) -> KeywordIndex:
        raise NotImplementedError("a subclass provides a started, empty KeywordIndex")

    async def reopen(self, index: KeywordIndex) -> KeywordIndex:
        """The same index after a restart. Backends on disk return a new instance on the same files."""
        await index.aclose()
        await index.start()
        return index

    def _need_stemming(self) -> None:
        if not self.stems:
            pytest.skip(f"{type(self).__name__} does not stem (plain BM25 reference)")

    # -- storage ------------------------------------------------------------------------------

    async def test_round_trip_rebuilds_the_same_chunk(self, index: KeywordIndex) -> None:
        chunk = make_chunk(
            "Rotate the etcd encryption key with kubectl; then restart the kube-apiserver «быстро».",
            title="Key rotation — ротация ключей",
            heading_path=("Key rotation — ротация ключей", "Security", "Procedures"),
            source="https://docs.example.com/security/rotation?x=1#keys",
            doc_type="runbook",
            lang="ru",
            position=7,
        )
        await index.upsert([chunk])
        hits = await index.search("etcd encryption key rotation", SearchFilters("space-a"), 5)
        assert [h.chunk for h in hits] == [chunk]
        assert hits[0].chunk.chunk_id == chunk.chunk_id
        assert hits[0].score > 0

    async def test_count_per_space_and_total(self, index: KeywordIndex) -> None:
        assert await index.count() == 0
        await index.upsert([make_chunk(t, position=i) for i, t in enumerate(_FILLER[:4])])
        await index.upsert([make_chunk(t, space_id="space-b", position=i) for i, t in enumerate(_FILLER[:2])])
        assert await index.count("space-a") == 4
        assert await index.count("space-b") == 2
        assert await index.count("space-c") == 0
        assert await index.count() == 6

    async def test_upsert_overwrites_by_chunk_id(self, index: KeywordIndex) -> None:
        old = make_chunk("The VPN gateway listens on port 1194 for OpenVPN clients.")
        new = make_chunk("The bastion host accepts SSH from the corporate network only.")
        assert old.chunk_id == new.chunk_id
        await index.upsert([old, make_chunk(_FILLER[0], position=1)])
        await index.upsert([new])
        assert await index.count("space-a") == 2
        assert await index.search("OpenVPN gateway port", SearchFilters("space-a"), 5) == []
        hits = await index.search("bastion SSH", SearchFilters("space-a"), 5)
        assert [h.chunk for h in hits] == [new]

    async def test_upserting_the_same_chunks_again_changes_nothing(self, index: KeywordIndex) -> None:
        # What re-ingesting an unchanged document would do if it wrote at all: no duplicates, and
        # the same scores (a deleted-and-rewritten copy must not count twice in the statistics).
        chunks = [make_chunk(t, doc_id=f"doc-{i}") for i, t in enumerate(_FILLER)]
        await index.upsert(chunks)
        before = [
            (h.chunk, h.score)
            for h in await index.search("parking permits renewed", SearchFilters("space-a"), 5)
        ]
        for _ in range(3):
            await index.upsert(chunks)
        assert await index.count() == len(_FILLER)
        after = [
            (h.chunk, h.score)
            for h in await index.search("parking permits renewed", SearchFilters("space-a"), 5)
        ]
        assert [c for c, _ in after] == [c for c, _ in before] and before
        assert [s for _, s in after] == pytest.approx([s for _, s in before], rel=1e-6)

    async def test_repeated_chunk_id_in_one_batch_keeps_the_last(self, index: KeywordIndex) -> None:
        first = make_chunk("Snapshots of the volume are taken nightly.")
        last = make_chunk("Replicas of the volume live on three nodes.")
        await index.upsert([first, last])
        assert await index.count() == 1
        hits = await index.search("volume replicas snapshots", SearchFilters("space-a"), 5)
        assert [h.chunk for h in hits] == [last]

    # -- filters ------------------------------------------------------------------------------

    async def test_space_isolation_under_a_crowded_other_space(self, index: KeywordIndex) -> None:
        # Space B is full of much better matches; space A's weak matches must still all come back,
        # and nothing of B may appear: the filter works inside the index, not on a global top-N.
        query = "upgrade the kubernetes cluster control plane"
        crowd = [
            make_chunk(
                f"Upgrade the Kubernetes cluster control plane, step {i}: upgrade kubernetes cluster nodes.",
                space_id="space-b",
                doc_id=f"upgrade-{i}",
                title="Kubernetes cluster upgrade",
            )
            for i in range(120)
        ]
        await index.upsert(crowd)
        weak = [
            make_chunk(f"{_FILLER[i]} Someone mentioned kubernetes once.", doc_id=f"note-{i}", position=i)
            for i in range(3)
        ]
        await index.upsert(weak + [make_chunk(_FILLER[5], doc_id="unrelated")])
        hits = await index.search(query, SearchFilters("space-a"), 3)
        assert sorted(h.chunk.doc_id for h in hits) == ["note-0", "note-1", "note-2"]
        hits = await index.search(query, SearchFilters("space-a"), 50)
        assert {h.chunk.space_id for h in hits} == {"space-a"}
        assert "unrelated" not in {h.chunk.doc_id for h in hits}
        assert await index.search(query, SearchFilters("space-c"), 10) == []
        b_hits = await index.search(query, SearchFilters("space-b"), 10)
        assert len(b_hits) == 10 and {h.chunk.space_id for h in b_hits} == {"space-b"}

    async def test_scores_do_not_depend_on_other_spaces(self, index: KeywordIndex) -> None:
        # BM25's statistics (how rare a term is, how long chunks are) are the space's own: a term
        # common in space B, and B's long chunks, change nothing in space A's scores.
        query = "rotate the certificates of the ingress controller"
        await index.upsert(
            [
                make_chunk("Certificates of the ingress controller rotate every 90 days.", doc_id="certs"),
                make_chunk("The ingress controller runs two replicas.", doc_id="ingress"),
                *[make_chunk(t, doc_id=f"filler-{i}") for i, t in enumerate(_FILLER)],
            ]
        )
        alone = [(h.chunk.doc_id, h.score) for h in await index.search(query, SearchFilters("space-a"), 10)]
        assert [doc_id for doc_id, _ in alone][:2] == ["certs", "ingress"]
        await index.upsert(
            [
                make_chunk(
                    f"Ingress certificates: rotate certificates, certificates rotate; {' '.join(_FILLER)} {i}",
                    space_id="space-b",
                    doc_id=f"b-{i}",
                )
                for i in range(60)
            ]
        )
        after = [(h.chunk.doc_id, h.score) for h in await index.search(query, SearchFilters("space-a"), 10)]
        assert after == alone

    async def test_doc_type_filter(self, index: KeywordIndex) -> None:
        await index.upsert(
            [
                make_chunk("How to reset a forgotten password in the portal.", doc_id="faq", doc_type="faq"),
                make_chunk(
                    "Password policy: twelve characters, rotated yearly.", doc_id="policy", doc_type="policy"
                ),
                make_chunk(
                    "Password reset for service accounts.", doc_id="other", space_id="space-b", doc_type="faq"
                ),
            ]
        )
        hits = await index.search("password reset", SearchFilters("space-a", doc_type="faq"), 10)
        assert [h.chunk.doc_id for h in hits] == ["faq"]
        hits = await index.search("password", SearchFilters("space-a", doc_type="policy"), 10)
        assert [h.chunk.doc_id for h in hits] == ["policy"]
        assert await index.search("password", SearchFilters("space-a", doc_type="runbook"), 10) == []
        hits = await index.search("password", SearchFilters("space-a"), 10)
        assert sorted(h.chunk.doc_id for h in hits) == ["faq", "policy"]

    # -- deletion -----------------------------------------------------------------------------

    async def test_delete_one_version_then_all(self, index: KeywordIndex) -> None:
        v1, v2 = "a" * 64, "b" * 64
        text = "The backup job copies the database to object storage at night."
        old = [make_chunk(text, version=v1, position=i) for i in range(2)]
        new = [make_chunk(text, version=v2, position=i) for i in range(3)]
        same_doc_elsewhere = make_chunk(text, space_id="space-b", version=v1)
        other_doc = make_chunk(text, doc_id="doc-2", version=v1)
        await index.upsert(old + new + [same_doc_elsewhere, other_doc])
        assert await index.count("space-a") == 6

        await index.delete("space-a", "doc-1", v1)
        assert await index.count("space-a") == 4
        hits = await index.search("backup database", SearchFilters("space-a"), 10)
        assert {(h.chunk.doc_id, h.chunk.version) for h in hits} == {("doc-1", v2), ("doc-2", v1)}

        await index.delete("space-a", "doc-1")
        hits = await index.search("backup database", SearchFilters("space-a"), 10)
        assert [h.chunk for h in hits] == [other_doc]
        assert await index.count("space-b") == 1

    async def test_delete_of_missing_document_is_a_no_op(self, index: KeywordIndex) -> None:
        await index.upsert([make_chunk(_FILLER[0])])
        await index.delete("space-a", "no-such-doc")
        await index.delete("space-z", "doc-1", "v9")
        assert await index.count() == 1

    async def test_drop_space(self, index: KeywordIndex) -> None:
        await index.upsert([make_chunk(t, position=i) for i, t in enumerate(_FILLER)])
        await index.upsert([make_chunk(t, space_id="space-b", position=i) for i, t in enumerate(_FILLER)])
        await index.drop_space("space-a")
        assert await index.count("space-a") == 0
        assert await index.count("space-b") == len(_FILLER)
        assert await index.search("parking permits", SearchFilters("space-a"), 5) == []
        hits = await index.search("parking permits", SearchFilters("space-b"), 5)
        assert hits and hits[0].chunk.space_id == "space-b"

    async def test_a_dropped_space_can_be_filled_again(self, index: KeywordIndex) -> None:
        await index.upsert([make_chunk(t, position=i) for i, t in enumerate(_FILLER)])
        await index.drop_space("space-a")
        await index.drop_space("space-a")  # twice: nothing left to drop
        await index.drop_space("space-never")
        await index.upsert([make_chunk("Parking permits moved to the new portal.", doc_id="new")])
        assert await index.count() == 1
        hits = await index.search("parking permits", SearchFilters("space-a"), 5)
        assert [h.chunk.doc_id for h in hits] == ["new"]

    # -- persistence --------------------------------------------------------------------------

    async def test_survives_restart(self, index: KeywordIndex) -> None:
        chunks = [make_chunk(t, position=i) for i, t in enumerate(_FILLER)]
        await index.upsert(chunks)
        await index.delete("space-a", "doc-1", "nope")
        before = await index.search("parking permits renewed", SearchFilters("space-a"), 3)
        index = await self.reopen(index)
        assert await index.count("space-a") == len(_FILLER)
        after = await index.search("parking permits renewed", SearchFilters("space-a"), 3)
        assert [h.chunk for h in after] == [h.chunk for h in before]
        assert after[0].chunk == chunks[3]

    # -- questions as people type them --------------------------------------------------------

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "   \n\t ",
            "?!.,;:—…",
            'title:"parking" AND (permits OR badge*) NOT ~2 ^3 [a TO z] {x}',
            'parking:* "permits" (badge) AND OR NOT',
            '\\ / * ? + - && || ! ( ) { } [ ] ^ " ~ : @ # $ % `',
            "\x00\x01 parking \ufffd \U0001f697 permits",
            "parking " * 2500,
            "x" * 20_000,
        ],
    )
    async def test_odd_question_text_never_raises(self, index: KeywordIndex, text: str) -> None:
        await index.upsert([make_chunk(t, position=i) for i, t in enumerate(_FILLER)])
        await index.upsert([make_chunk(_FILLER[3], space_id="space-b")])
        hits = await index.search(text, SearchFilters("space-a"), 5)
        assert len(hits) <= 5
        assert all(h.chunk.space_id == "space-a" for h in hits)
        if "parking" in text:
            assert 3 in {h.chunk.position for h in hits}  # the one chunk about parking

    async def test_empty_index_and_zero_limit(self, index: KeywordIndex) -> None:
        assert await index.search("anything at all", SearchFilters("space-a"), 5) == []
        await index.upsert([make_chunk(_FILLER[0])])
        assert await index.search("invoices", SearchFilters("space-a"), 0) == []
        await index.upsert([])
        assert await index.count() == 1

    async def test_ranks_the_more_relevant_chunk_first(self, index: KeywordIndex) -> None:
        await index.upsert(
            [
                make_chunk("Our release train ships every second Tuesday.", doc_id="release"),
                make_chunk(
                    "Certificates renew automatically; a certificate expiring in 7 days pages on-call.",
                    doc_id="certs",
                ),
                make_chunk("The on-call rotation changes every Monday morning.", doc_id="oncall"),
            ]
        )
        hits = await index.search("when do certificates renew?", SearchFilters("space-a"), 3)
        assert hits[0].chunk.doc_id == "certs"
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)

    # -- Russian and English inflection -------------------------------------------------------

    async def test_russian_inflected_form_finds_another(self, index: KeywordIndex) -> None:
        self._need_stemming()
        await index.upsert(
            [
                make_chunk(
                    "Кластер состоит из трёх мастер-узлов и пяти рабочих узлов.", doc_id="ru", lang="ru"
                ),
                make_chunk(_FILLER[1], doc_id="en"),
            ]
        )
        for question in ("Сколько узлов у кластера?", "кластеров", "рабочий узел"):
            hits = await index.search(question, SearchFilters("space-a"), 5)
            assert [h.chunk.doc_id for h in hits] == ["ru"], question

    async def test_english_plural_finds_singular(self, index: KeywordIndex) -> None:
        self._need_stemming()
        await index.upsert(
            [
                make_chunk("Each bucket policy grants read access to one role.", doc_id="s3"),
                make_chunk(_FILLER[2], doc_id="other"),
            ]
        )
        hits = await index.search("Which policies apply to buckets?", SearchFilters("space-a"), 5)
        assert [h.chunk.doc_id for h in hits] == ["s3"]
