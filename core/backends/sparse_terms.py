"""Chunks and questions as sparse vectors for keyword search inside Qdrant (``KEYWORD_INDEX=qdrant``).

The terms are those of the Whoosh index (``core.backends.text_analysis``: Russian and English
Snowball stems next to exact forms, identifiers whole and by their parts), so the two backends rank
alike. Each form is hashed into its own range of sparse indices (``x`` exact, ``s`` stemmed, as
Whoosh's two fields ``terms_x`` and ``terms_s``), and a chunk's value for a term is BM25F's
saturated, length-normalised term frequency, computed here:

    value = tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avg_len))

where ``tf`` counts a title occurrence ``title_weight``, a heading ``headings_weight`` and a text
occurrence 1 (BM25F's weighted frequency, as in ``core.backends.whoosh_space``), and ``length``
is the number of terms. Qdrant multiplies the question's weights by the IDF it computes over the
space's own points (``Modifier.IDF`` with an IDF corpus filter, see the backends), so a score is
the BM25F sum of the Whoosh index. Two differences remain, measured in docs/retrieval.md: Qdrant's
IDF is ``ln(1 + (N - df + 0.5) / (df + 0.5))`` where Whoosh uses ``ln(N / (df + 1)) + 1``, and
``avg_len`` is a constant rather than the space's running average (a chunk's vector must not
change when other chunks arrive, or re-ingesting unchanged documents would have to write).

Pure: no engine is imported here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from core.backends.text_analysis import TermAnalyzer
from core.models import Chunk

__all__ = ["KEYWORD_VECTOR", "SparseTuning", "SparseTerms", "SparseEncoder"]

# The name of the sparse vector in Qdrant points (beside the unnamed dense vector on a server).
KEYWORD_VECTOR = "keywords"

_HASH_CACHE_LIMIT = 1_000_000  # distinct (form, term) pairs; cleared when full


@dataclass(frozen=True)
class SparseTuning:
    """How chunks are weighted and questions scored; the defaults are ``KeywordTuning``'s (the
    Whoosh backend), so the two backends rank alike. ``avg_len``: the chunk length (in terms) that
    BM25's length normalisation takes as average; 150 is the median of the eval corpora's
    averages (docs/retrieval.md). Stored vectors depend on the index-time fields
    (``index_shape``), the analyser and the hashing: after changing any of them, run
    ``ragbot reindex --keywords`` (unlike the Whoosh index, nothing detects it by itself)."""

    title_weight: float = 2.0
    headings_weight: float = 1.5
    exact_weight: float = 1.0
    stemmed_weight: float = 1.0
    k1: float = 1.2
    b: float = 0.75
    avg_len: float = 150.0
    max_query_terms: int = 64

    def index_shape(self) -> dict[str, float]:
        """The fields that shape the stored vectors (the rest act at query time)."""
        return {
            "title_weight": self.title_weight,
            "headings_weight": self.headings_weight,
            "k1": self.k1,
            "b": self.b,
            "avg_len": self.avg_len,
        }


@dataclass(frozen=True)
class SparseTerms:
    """A sparse vector: unique indices (unsigned 32-bit) and their values."""

    indices: list[int]
    values: list[float]

    def __bool__(self) -> bool:
        return bool(self.indices)


class SparseEncoder:
    """Chunk -> stored sparse vector, question -> query sparse vector. Thread-safe (the caches
    are plain dicts whose worst race computes a value twice)."""

    def __init__(self, tuning: SparseTuning | None = None, analyzer: TermAnalyzer | None = None) -> None:
        self.tuning = tuning or SparseTuning()
        self._analyzer = analyzer or TermAnalyzer()
        self._hashes: dict[tuple[str, str], int] = {}

    def document(self, chunk: Chunk) -> SparseTerms:
        t = self.tuning
        headings = "\n".join(h for h in chunk.heading_path if h != chunk.title)
        weighted: dict[int, float] = {}
        length = 0
        for text, weight in ((chunk.title, t.title_weight), (headings, t.headings_weight), (chunk.text, 1.0)):
            exact = self._analyzer.terms(text)
            length += len(exact)
            self._add(weighted, "x", exact, weight)
            self._add(weighted, "s", self._analyzer.stems(exact), weight)
        norm = t.k1 * (1 - t.b + t.b * length / t.avg_len)
        indices = sorted(weighted)
        return SparseTerms(indices, [weighted[i] * (t.k1 + 1) / (weighted[i] + norm) for i in indices])

    def query(self, text: str) -> SparseTerms:
        """The question's distinct exact terms weighted ``exact_weight`` and their distinct stems
        ``stemmed_weight`` (empty: nothing to search for)."""
        t = self.tuning
        exact = self._analyzer.query_terms(text, t.max_query_terms)
        weights: dict[int, float] = {}
        if t.exact_weight > 0:
            self._add(weights, "x", exact, t.exact_weight)
        if t.stemmed_weight > 0:
            self._add(weights, "s", dict.fromkeys(self._analyzer.stems(exact)), t.stemmed_weight)
        indices = sorted(weights)
        return SparseTerms(indices, [weights[i] for i in indices])

    def _add(self, acc: dict[int, float], form: str, terms: Iterable[str], weight: float) -> None:
        # Two terms hashing alike share one index (their frequencies add up): at 1M distinct terms
        # in 2^32 indices about a hundred pairs collide, a rounding error for BM25.
        for term in terms:
            index = self._index(form, term)
            acc[index] = acc.get(index, 0.0) + weight

    def _index(self, form: str, term: str) -> int:
        key = (form, term)
        index = self._hashes.get(key)
        if index is None:
            digest = hashlib.blake2b(f"{form}:{term}".encode(), digest_size=4).digest()
            index = int.from_bytes(digest, "little")
            if len(self._hashes) >= _HASH_CACHE_LIMIT:
                self._hashes.clear()
            self._hashes[key] = index
        return index
