"""The contract every ``VectorIndex`` passes: the in-memory reference and the real backends.

Use it by subclassing in a test module and providing the ``index`` fixture (a started, empty index
of dimension ``DIM``; close it after the test). Backends that keep their data on disk override
``reopen`` (a new instance on the same storage, after closing the old one) and ``open_with_dim``
(a new, not yet started instance on the same storage with another dimension), so the persistence
and dimension tests mean something; the in-memory reference skips the latter and says so.

Vectors are built by hand (``unit`` / ``near``), so every expected order is known exactly.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest

from core.errors import ConfigError
from core.models import Chunk, SearchFilters
from core.ports import VectorIndex
from core.testing.contracts.keyword_index import make_chunk

__all__ = ["VectorIndexContract", "unit", "near"]

DIM = 16
A = SearchFilters("space-a")
B = SearchFilters("space-b")


def unit(*weights: float, dim: int = DIM) -> np.ndarray:
    """A vector with the given leading components and zeros after them (not normalised)."""
    v = np.zeros(dim, dtype=np.float32)
    v[: len(weights)] = weights
    return v


def near(base: np.ndarray, angle: float, axis: int) -> np.ndarray:
    """A unit vector at ``angle`` radians from the unit vector ``base``, turned towards ``axis``."""
    other = np.zeros_like(base)
    other[axis] = 1.0
    return (np.cos(angle) * base + np.sin(angle) * other).astype(np.float32)


def _chunks(n: int, **kw: object) -> list[Chunk]:
    return [make_chunk(f"Passage {i} of the document.", position=i, **kw) for i in range(n)]  # type: ignore[arg-type]


class VectorIndexContract:
    DIM: ClassVar[int] = DIM

    @pytest.fixture
    def index(self) -> VectorIndex:
        raise NotImplementedError("a subclass provides a started, empty VectorIndex of dimension DIM")

    async def reopen(self, index: VectorIndex) -> VectorIndex:
        """The same index after a restart. Backends on disk return a new instance on the same files."""
        await index.aclose()
        await index.start()
        return index

    def open_with_dim(self, index: VectorIndex, dim: int) -> VectorIndex | None:
        """A new, not started instance on ``index``'s storage with another dimension; None: no storage."""
        return None

    # -- storage ------------------------------------------------------------------------------

    async def test_round_trip_rebuilds_the_same_chunk(self, index: VectorIndex) -> None:
        chunk = make_chunk(
            "Rotate the etcd encryption key; then restart the kube-apiserver «быстро».",
            title="Key rotation — ротация ключей",
            heading_path=("Key rotation — ротация ключей", "Security", "Procedures"),
            source="https://docs.example.com/security/rotation?x=1#keys",
            doc_type="runbook",
            lang="ru",
            position=7,
        )
        other = make_chunk("Something else entirely.", doc_id="doc-2", heading_path=())
        await index.upsert([chunk, other], np.stack([unit(1, 1), unit(0, 0, 1)]))
        hits = await index.search(unit(2, 2), A, 5)
        assert [h.chunk for h in hits] == [chunk, other]
        assert hits[0].chunk.heading_path == chunk.heading_path and hits[1].chunk.heading_path == ()
        assert hits[0].score == pytest.approx(1.0, abs=1e-5)
        assert hits[1].score == pytest.approx(0.0, abs=1e-5)

    async def test_count_per_space_and_total(self, index: VectorIndex) -> None:
        assert await index.count() == 0
        await index.upsert(_chunks(4), np.stack([unit(1, i) for i in range(4)]))
        await index.upsert(_chunks(2, space_id="space-b"), np.stack([unit(1, i) for i in range(2)]))
        assert await index.count("space-a") == 4
        assert await index.count("space-b") == 2
        assert await index.count("space-c") == 0
        assert await index.count() == 6

    async def test_empty_upsert_is_a_no_op(self, index: VectorIndex) -> None:
        await index.upsert([], np.zeros((0, self.DIM), dtype=np.float32))
        assert await index.count() == 0

    async def test_one_vector_per_chunk(self, index: VectorIndex) -> None:
        with pytest.raises(ValueError):
            await index.upsert(_chunks(2), np.stack([unit(1)]))
        assert await index.count() == 0

    async def test_upsert_overwrites_by_chunk_id(self, index: VectorIndex) -> None:
        old = make_chunk("The VPN gateway listens on port 1194.")
        new = make_chunk("The bastion host accepts SSH from the office only.")
        assert old.chunk_id == new.chunk_id
        bystander = make_chunk("Unrelated.", position=1)
        await index.upsert([old, bystander], np.stack([unit(1), unit(0, 1)]))
        await index.upsert([new], np.stack([unit(0, 0, 1)]))
        assert await index.count("space-a") == 2
        hits = await index.search(unit(0, 0, 1), A, 5)
        assert hits[0].chunk == new and hits[0].score == pytest.approx(1.0, abs=1e-5)
        assert old not in [h.chunk for h in hits]
        # The old vector went with the old text: nothing scores 1 against it any more.
        assert max(h.score for h in await index.search(unit(1), A, 5)) == pytest.approx(0.0, abs=1e-5)

    async def test_repeated_chunk_id_in_one_batch_keeps_the_last(self, index: VectorIndex) -> None:
        first = make_chunk("Snapshots of the volume are taken nightly.")
        last = make_chunk("Replicas of the volume live on three nodes.")
        await index.upsert([first, last], np.stack([unit(1), unit(0, 1)]))
        assert await index.count() == 1
        hits = await index.search(unit(0, 1), A, 5)
        assert [h.chunk for h in hits] == [last]
        assert hits[0].score == pytest.approx(1.0, abs=1e-5)

    async def test_persists_across_restart(self, index: VectorIndex) -> None:
        chunks = _chunks(5, doc_type="faq")
        vectors = np.stack([unit(1, 0.1 * i) for i in range(5)])
        await index.upsert(chunks, vectors)
        await index.upsert(_chunks(3, space_id="space-b"), vectors[:3])
        before = await index.search(unit(1), A, 10)
        again = await self.reopen(index)
        try:
            assert await again.count() == 8
            after = await again.search(unit(1), A, 10)
            assert [h.chunk for h in after] == [h.chunk for h in before] == chunks
            assert [h.score for h in after] == pytest.approx([h.score for h in before], abs=1e-5)
            await again.delete("space-a", chunks[0].doc_id)  # still writable after the restart
            assert await again.count("space-a") == 0
        finally:
            if again is not index:
                await again.aclose()

    async def test_opening_with_another_dimension_is_a_config_error(self, index: VectorIndex) -> None:
        other = self.open_with_dim(index, self.DIM * 2)
        if other is None:
            pytest.skip(f"{type(self).__name__}: the index keeps no storage that fixes a dimension")
        await index.upsert(_chunks(1), np.stack([unit(1)]))
        await index.aclose()
        with pytest.raises(ConfigError, match=f"{self.DIM}"):
            await other.start()
        await other.aclose()

    # -- search -------------------------------------------------------------------------------

    async def test_search_on_empty_or_unknown_space_is_empty(self, index: VectorIndex) -> None:
        assert await index.search(unit(1), A, 10) == []
        await index.upsert(_chunks(3), np.stack([unit(1), unit(1, 1), unit(0, 1)]))
        assert await index.search(unit(1), SearchFilters("space-nobody"), 10) == []
        assert await index.search(unit(1), SearchFilters("space-a", doc_type="no-such-type"), 10) == []

    async def test_limit_is_honoured(self, index: VectorIndex) -> None:
        await index.upsert(_chunks(20), np.stack([unit(1, 0.05 * i) for i in range(20)]))
        hits = await index.search(unit(1), A, 5)
        assert [h.chunk.position for h in hits] == [0, 1, 2, 3, 4]
        assert len(await index.search(unit(1), A, 100)) == 20
        assert await index.search(unit(1), A, 0) == []

    async def test_orders_by_cosine_not_by_dot_product(self, index: VectorIndex) -> None:
        # Lengths differ wildly; only the angle to the query may decide, and the score is the cosine.
        query = unit(1)
        angles = [0.1, 0.3, 0.6, 0.9, 1.2, 1.5]
        lengths = [0.01, 50.0, 0.5, 300.0, 2.0, 7.0]
        vectors = np.stack(
            [near(query, a, axis=1 + i) * n for i, (a, n) in enumerate(zip(angles, lengths, strict=True))]
        )
        chunks = _chunks(len(angles))
        order = np.random.default_rng(7).permutation(len(chunks))  # stored in a shuffled order
        await index.upsert([chunks[i] for i in order], vectors[order])
        hits = await index.search(query * 3.0, A, 10)
        assert [h.chunk.position for h in hits] == list(range(len(angles)))
        assert [h.score for h in hits] == pytest.approx([float(np.cos(a)) for a in angles], abs=1e-4)

    async def test_space_isolation_under_a_crowded_other_space(self, index: VectorIndex) -> None:
        # Space B holds many points that match the query almost exactly; space A's three weak matches
        # must still all come back, and nothing of B may appear: the filter applies inside the search,
        # not to a global top-N afterwards.
        query = unit(1)
        rng = np.random.default_rng(3)
        crowd = np.stack([near(query, 0.01 * rng.random(), axis=2 + i % 10) for i in range(300)])
        await index.upsert(_chunks(300, space_id="space-b", doc_id="crowd"), crowd)
        weak = [near(query, 1.2 + 0.1 * i, axis=1) for i in range(3)]
        await index.upsert(_chunks(3, doc_id="weak"), np.stack(weak))
        for limit in (1, 3, 50):
            hits = await index.search(query, A, limit)
            assert len(hits) == min(limit, 3)
            assert {h.chunk.space_id for h in hits} == {"space-a"}
        hits = await index.search(query, SearchFilters("space-a", doc_type="guide"), 50)
        assert [h.chunk.position for h in hits] == [0, 1, 2]
        b_hits = await index.search(query, B, 10)
        assert len(b_hits) == 10 and {h.chunk.space_id for h in b_hits} == {"space-b"}

    async def test_doc_type_filter(self, index: VectorIndex) -> None:
        faq = make_chunk("How do I reset my password?", doc_id="faq-1", doc_type="faq")
        guide = make_chunk("Password policy, in full.", doc_id="guide-1", doc_type="guide")
        runbook = make_chunk("Resetting passwords in the directory.", doc_id="rb-1", doc_type="runbook")
        elsewhere = make_chunk(
            "How do I reset my password? (team B)", space_id="space-b", doc_id="faq-1", doc_type="faq"
        )
        # The best match overall is not a FAQ: the filter must still return the FAQ.
        await index.upsert(
            [faq, guide, runbook, elsewhere], np.stack([unit(1, 1), unit(1), unit(1, 0.1), unit(1)])
        )
        hits = await index.search(unit(1), SearchFilters("space-a", doc_type="faq"), 10)
        assert [h.chunk for h in hits] == [faq]
        hits = await index.search(unit(1), A, 10)
        assert [h.chunk for h in hits] == [guide, runbook, faq]

    # -- deleting -----------------------------------------------------------------------------

    async def _two_versions(self, index: VectorIndex) -> tuple[list[Chunk], list[Chunk], list[Chunk]]:
        v1 = _chunks(3, doc_id="handbook", version="1" * 64)
        v2 = _chunks(2, doc_id="handbook", version="2" * 64)
        keep = _chunks(2, doc_id="other") + _chunks(
            2, space_id="space-b", doc_id="handbook", version="1" * 64
        )
        await index.upsert(v1 + v2 + keep, np.stack([unit(1, 0.1 * i) for i in range(len(v1 + v2 + keep))]))
        return v1, v2, keep

    async def test_delete_one_version_leaves_the_other(self, index: VectorIndex) -> None:
        v1, v2, keep = await self._two_versions(index)
        await index.delete("space-a", "handbook", "1" * 64)
        assert await index.count("space-a") == len(v2) + 2
        assert await index.count("space-b") == 2
        hits = await index.search(unit(1), A, 50)
        assert {h.chunk for h in hits} == set(v2) | set(keep[:2])

    async def test_delete_every_version(self, index: VectorIndex) -> None:
        v1, v2, keep = await self._two_versions(index)
        await index.delete("space-a", "handbook")
        hits = await index.search(unit(1), A, 50)
        assert {h.chunk for h in hits} == set(keep[:2])
        # The same doc_id in another space is another document.
        assert {h.chunk for h in await index.search(unit(1), B, 50)} == set(keep[2:])
        await index.delete("space-a", "no-such-doc")  # deleting nothing is fine
        assert await index.count() == 4

    async def test_drop_space(self, index: VectorIndex) -> None:
        await self._two_versions(index)
        await index.drop_space("space-a")
        assert await index.count("space-a") == 0
        assert await index.search(unit(1), A, 10) == []
        assert await index.count("space-b") == 2
        assert await index.count() == 2
        await index.drop_space("space-nobody")
        assert await index.count() == 2

    async def test_chunks_lists_every_chunk_of_a_space_in_batches(self, index: VectorIndex) -> None:
        v1, v2, keep = await self._two_versions(index)
        batches = [b async for b in index.chunks("space-a", batch=2)]
        assert batches and all(1 <= len(b) <= 2 for b in batches)
        listed = [c for b in batches for c in b]
        assert sorted(c.chunk_id for c in listed) == sorted(c.chunk_id for c in [*v1, *v2, *keep[:2]])
        assert set(listed) == {*v1, *v2, *keep[:2]}  # whole chunks, not just ids
        assert [b async for b in index.chunks("space-nobody")] == []
