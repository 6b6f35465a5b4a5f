"""Matching a new question to the verified answers of its space, by meaning.

Both questions are embedded as queries (e5's ``query:`` prefix suits comparing two questions) and
compared by cosine. The thresholds were measured on a labelled set of paraphrases and of hard
non-paraphrases (other questions about the same module or paragraph), in each language and across
the two (docs/feedback.md, ``ragbot eval verified``): e5 puts a question and its translation
lower than two wordings in one language, so across languages the bar is lower.

A verified answer whose source documents changed since it was written needs review and is not
served until someone verifies it again (``with_review_state``). Vectors of verified questions are
kept in memory per process, keyed by id and wording, so each is embedded once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from core.answer.context import source_url
from core.errors import NotFound
from core.models import DocumentRecord, Source, VerifiedAnswer
from core.ports import Catalog, Embedder, VerifiedStore
from core.settings import VerifiedSettings

__all__ = ["VerifiedMatch", "VerifiedMatcher", "with_review_state", "needs_review", "document_sources"]

log = logging.getLogger(__name__)


def needs_review(verified: VerifiedAnswer, live: Mapping[str, DocumentRecord]) -> bool:
    """A source document has a new live version, or is gone, since the answer was verified."""
    return any(
        (record := live.get(doc_id)) is None or record.version != version
        for doc_id, version in verified.doc_versions
    )


def with_review_state(
    verified: Sequence[VerifiedAnswer], live: Mapping[str, DocumentRecord]
) -> list[VerifiedAnswer]:
    return [replace(v, needs_review=needs_review(v, live)) for v in verified]


def document_sources(
    space_id: str, live: Mapping[str, DocumentRecord], refs: Sequence[str]
) -> tuple[Source, ...]:
    """Sources for a verified answer from document ids or their locations (path or URL as
    ingested); NotFound names the first that is not a live document of the space."""
    by_location = {r.source.rstrip("/"): r for r in live.values()}
    out: list[Source] = []
    for n, ref in enumerate(refs, start=1):
        record = live.get(ref) or by_location.get(ref.rstrip("/"))
        if record is None:
            raise NotFound(
                f"'{ref}' is not a document of the space '{space_id}' (give a document id or its location)."
            )
        out.append(
            Source(
                n,
                record.doc_id,
                record.title,
                record.title,
                record.source,
                source_url(record.source),
                record.doc_type,
            )
        )
    return tuple(out)


@dataclass(frozen=True)
class VerifiedMatch:
    verified: VerifiedAnswer
    similarity: float
    cross_lang: bool  # the verified question is in the other language


class VerifiedMatcher:
    def __init__(
        self,
        *,
        store: VerifiedStore,
        catalog: Catalog,
        embedder: Embedder,
        settings: VerifiedSettings | None = None,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.embedder = embedder
        self.settings = settings or VerifiedSettings()
        self._vectors: dict[tuple[str, str], np.ndarray] = {}

    async def _vector(self, verified: VerifiedAnswer) -> np.ndarray:
        key = (verified.verified_id, verified.question)
        vector = self._vectors.get(key)
        if vector is None:
            vector = self._vectors[key] = await self.embedder.embed_query(verified.question)
        return vector

    def forget(self, verified_id: str) -> None:
        for key in [k for k in self._vectors if k[0] == verified_id]:
            del self._vectors[key]

    async def match(
        self, space_id: str, question: str, lang: str, *, vector: np.ndarray | None = None
    ) -> tuple[VerifiedMatch | None, np.ndarray | None]:
        """The best verified answer of the space for ``question`` above its threshold, and the
        question's vector when one was computed (retrieval reuses it)."""
        if not self.settings.enabled:
            return None, vector
        candidates = await self.store.verified_answers(space_id)
        if not candidates:
            return None, vector  # most spaces: no embedding, no catalogue read
        live = await self.catalog.live_documents(space_id)
        serving = [v for v in candidates if not needs_review(v, live)]
        if not serving:
            return None, vector
        if vector is None:
            vector = await self.embedder.embed_query(question)
        best: VerifiedMatch | None = None
        for verified in serving:
            similarity = float(np.dot(vector, await self._vector(verified)))
            cross = verified.lang != lang
            bar = self.settings.cross_lang_threshold if cross else self.settings.threshold
            if similarity < bar:
                continue
            # the same language first: its wording is what the asker can read
            rank = (not cross, similarity)
            if best is None or rank > (not best.cross_lang, best.similarity):
                best = VerifiedMatch(verified, similarity, cross)
        if best is not None:
            log.info(
                "verified.match space=%s verified=%s similarity=%.3f cross_lang=%s",
                space_id,
                best.verified.verified_id,
                best.similarity,
                best.cross_lang,
            )
        return best, vector
