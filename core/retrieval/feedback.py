"""Votes that move retrieval: a vote on an answer counts for the chunks the answer cited, within
that answer's space only, as a bounded boost (up) or penalty (down) added in fusion, and for
questions like the one that was voted on.

For a new question q, a chunk's net vote is the sum of its votes, each weighted by
- its age: halved every ``RETRIEVAL_FEEDBACK_HALF_LIFE_DAYS``;
- how close the voted question is to q (cosine of the two questions' embeddings, ``s``):
  ``(s - SIMILARITY_FLOOR) / (1 - SIMILARITY_FLOOR)``, and nothing below the floor. The same
  question counts fully, a rewording or another question about the same passage partly, an
  unrelated question not at all: a chunk that answered "how do I rotate keys" well is no better an
  answer to "where are the backups".

The boost is ``tanh(net / SATURATION_VOTES)`` (never beyond ±1), times
``RETRIEVAL_FEEDBACK_WEIGHT`` in the fusion's units (core/retrieval/fusion.py). Only candidates
the retrievers found for the question move: votes re-rank what matches, they cannot bring in
what does not. A chunk id names one version of a document, so an edited document starts afresh:
the votes were about text it no longer has. Measured with simulated votes on the eval sets
(docs/feedback.md, ``ragbot eval feedback``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import numpy as np

from core.models import ChunkVote
from core.ports import Embedder, FeedbackStore

__all__ = ["FeedbackPrior", "Unit", "SATURATION_VOTES", "SIMILARITY_FLOOR", "REFRESH_S"]

Unit = Literal["chunk", "document"]

SATURATION_VOTES = 2.0  # the net vote at which the boost reaches tanh(1), 0.76 of its bound
# e5 puts unrelated questions of one domain around 0.75-0.85 to each other (docs/feedback.md):
# below this a voted question says nothing about the new one.
SIMILARITY_FLOOR = 0.8
# How long one process reuses a space's votes; a vote in this process refreshes them at once, a
# vote on another replica within this time.
REFRESH_S = 60.0


@dataclass(frozen=True)
class _SpaceVotes:
    keys: list[str]  # per vote: the chunk (or document) it counts for
    weights: np.ndarray  # per vote: value x decay
    question_of: np.ndarray  # per vote: the row of its question in ``questions``
    questions: np.ndarray  # the distinct voted questions' embeddings (empty when not weighed)
    rows: dict[str, int]  # question -> its row in ``questions``
    loaded_at: float


class FeedbackPrior:
    """``similarity_floor=None`` counts every vote for every question (a plain popularity prior;
    docs/feedback.md compares the two)."""

    def __init__(
        self,
        store: FeedbackStore,
        *,
        half_life_days: float,
        embedder: Embedder | None = None,
        unit: Unit = "chunk",
        similarity_floor: float | None = SIMILARITY_FLOOR,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if similarity_floor is not None and embedder is None:
            raise ValueError("weighing votes by question needs an embedder")
        self.store = store
        self.half_life_days = half_life_days
        self.embedder = embedder
        self.unit = unit
        self.similarity_floor = similarity_floor
        self._clock = clock
        self._monotonic = monotonic
        self._spaces: dict[str, _SpaceVotes] = {}
        self._stale: set[str] = set()

    @property
    def needs_query_vector(self) -> bool:
        return self.similarity_floor is not None

    def key(self, chunk_id: str, doc_id: str) -> str:
        return chunk_id if self.unit == "chunk" else doc_id

    def invalidate(self, space_id: str) -> None:
        """Read the space's votes again at its next question (the embeddings of questions
        already seen are kept)."""
        self._stale.add(space_id)

    def invalidate_all(self) -> None:
        self._stale.update(self._spaces)

    async def has_votes(self, space_id: str) -> bool:
        return bool((await self._votes(space_id)).keys)

    async def boosts(self, space_id: str, query_vector: np.ndarray | None = None) -> dict[str, float]:
        """key (chunk id, or doc id by ``unit``) -> boost in [-1, 1] for this question."""
        votes = await self._votes(space_id)
        if not votes.keys:
            return {}
        weights = votes.weights
        if self.similarity_floor is not None:
            if query_vector is None:
                raise ValueError("this prior weighs votes by question: pass the question's vector")
            similarity = (votes.questions @ query_vector)[votes.question_of]
            floor = self.similarity_floor
            weights = weights * np.clip((similarity - floor) / (1.0 - floor), 0.0, 1.0)
        net: dict[str, float] = {}
        for key, weight in zip(votes.keys, weights.tolist(), strict=True):
            if weight:
                net[key] = net.get(key, 0.0) + weight
        return {key: math.tanh(value / SATURATION_VOTES) for key, value in net.items() if value}

    def compute(self, votes: list[ChunkVote]) -> dict[str, float]:
        """Boosts counting every vote fully whatever the question (decay only)."""
        now = self._clock()
        net: dict[str, float] = {}
        for vote in votes:
            key = self.key(vote.chunk_id, vote.doc_id)
            net[key] = net.get(key, 0.0) + vote.value * self._decay(vote, now)
        return {key: math.tanh(value / SATURATION_VOTES) for key, value in net.items() if value}

    def _decay(self, vote: ChunkVote, now: datetime) -> float:
        age_days = max((now - vote.at).total_seconds(), 0.0) / 86400
        return 0.5 ** (age_days / self.half_life_days)

    async def _votes(self, space_id: str) -> _SpaceVotes:
        cached = self._spaces.get(space_id)
        fresh = cached is not None and self._monotonic() - cached.loaded_at < REFRESH_S
        if fresh and space_id not in self._stale:
            return cached
        self._stale.discard(space_id)
        votes = await self.store.chunk_votes(space_id)
        now = self._clock()
        weights = np.array([v.value * self._decay(v, now) for v in votes], dtype=np.float64)
        rows: dict[str, int] = {}
        questions = np.zeros((0, 0))
        if self.similarity_floor is not None and votes:
            # only the questions voted on now are kept: memory follows the votes, not history
            distinct = list(dict.fromkeys(v.question for v in votes))
            questions = np.stack([await self._known_vector(cached, q) for q in distinct]).astype(np.float64)
            rows = {q: i for i, q in enumerate(distinct)}
        question_of = np.array([rows.get(v.question, 0) for v in votes], dtype=np.int64)
        loaded = _SpaceVotes(
            [self.key(v.chunk_id, v.doc_id) for v in votes],
            weights,
            question_of,
            questions,
            rows,
            self._monotonic(),
        )
        self._spaces[space_id] = loaded
        return loaded

    async def _known_vector(self, previous: _SpaceVotes | None, question: str) -> np.ndarray:
        if previous is not None and question in previous.rows:
            return previous.questions[previous.rows[question]]
        assert self.embedder is not None
        return await self.embedder.embed_query(question)
