"""Answers cached by (normalised question, space, filters, top_k) for a while (the spec: minutes
to hours). The key also carries the space's generation, so any re-ingestion makes old answers
unreachable at once; ``invalidate`` frees their memory too."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from core.models import Answer
from core.text import normalise_question

__all__ = ["AnswerCache", "CacheKey"]


@dataclass(frozen=True)
class CacheKey:
    question: str
    space_id: str
    doc_type: str | None
    top_k: int
    generation: int

    @classmethod
    def of(cls, question: str, space_id: str, doc_type: str | None, top_k: int, generation: int) -> CacheKey:
        return cls(normalise_question(question), space_id, doc_type, top_k, generation)


class AnswerCache:
    def __init__(self, ttl_s: float, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[CacheKey, tuple[float, Answer]] = OrderedDict()

    def get(self, key: CacheKey) -> Answer | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        stored_at, answer = entry
        if self._clock() - stored_at > self.ttl_s:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return answer

    def put(self, key: CacheKey, answer: Answer) -> None:
        if self.ttl_s <= 0 or self.max_entries <= 0:
            return
        self._entries[key] = (self._clock(), answer)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def invalidate(self, space_id: str) -> None:
        for key in [k for k in self._entries if k.space_id == space_id]:
            del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)
