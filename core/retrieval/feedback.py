"""Votes that move retrieval: every vote on an answer counts for the chunks the answer cited,
within that answer's space only, as a bounded boost (up) or penalty (down) added in fusion.

A chunk's net vote is the sum of its votes, each halved every ``feedback_half_life_days``; the
boost is ``tanh(net / 2)`` (one vote about 0.46, three about 0.9, never more than 1), times
``RETRIEVAL_FEEDBACK_WEIGHT`` in the fusion's units (core/retrieval/fusion.py). Only candidates
the retrievers found for the question are moved: votes re-rank what matches, they cannot bring
in what does not. A chunk id names one version of a document, so an edited document starts
afresh: the votes were about the text it no longer has. Measured with simulated votes on the
eval sets in docs/feedback.md.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from core.models import ChunkVote
from core.ports import FeedbackStore

__all__ = ["FeedbackPrior", "Unit", "SATURATION_VOTES", "REFRESH_S"]

Unit = Literal["chunk", "document"]

SATURATION_VOTES = 2.0  # the net vote at which the boost reaches tanh(1), 0.76 of its bound
# How long one process reuses a space's boosts; a vote in this process refreshes them at once,
# a vote on another replica within this time.
REFRESH_S = 60.0


class FeedbackPrior:
    def __init__(
        self,
        store: FeedbackStore,
        *,
        half_life_days: float,
        unit: Unit = "chunk",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.half_life_days = half_life_days
        self.unit = unit
        self._clock = clock
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, dict[str, float]]] = {}

    def key(self, chunk_id: str, doc_id: str) -> str:
        return chunk_id if self.unit == "chunk" else doc_id

    def invalidate(self, space_id: str) -> None:
        self._cache.pop(space_id, None)

    def invalidate_all(self) -> None:
        self._cache.clear()

    async def boosts(self, space_id: str) -> dict[str, float]:
        """key (chunk id, or doc id by ``unit``) -> boost in (-1, 1)."""
        cached = self._cache.get(space_id)
        if cached is not None and self._monotonic() - cached[0] < REFRESH_S:
            return cached[1]
        boosts = self.compute(await self.store.chunk_votes(space_id))
        self._cache[space_id] = (self._monotonic(), boosts)
        return boosts

    def compute(self, votes: list[ChunkVote]) -> dict[str, float]:
        now = self._clock()
        net: dict[str, float] = defaultdict(float)
        for vote in votes:
            age_days = max((now - vote.at).total_seconds(), 0.0) / 86400
            net[self.key(vote.chunk_id, vote.doc_id)] += vote.value * 0.5 ** (age_days / self.half_life_days)
        return {key: math.tanh(value / SATURATION_VOTES) for key, value in net.items() if value}
