"""Rate budgets shared by every answer that streams into one place (a Slack workspace's
``chat.update`` budget, a Telegram chat's one edit per second)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["TokenBucket", "RateLimits"]


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up. ``try_take`` never waits (a skipped
    intermediate edit costs nothing); ``take`` waits (the final message must go out).

    ``reserve`` tokens are left to ``take`` alone: optional edits stop short of them, so final
    messages that arrive together (several answers ending at once) need not queue behind the
    edits (``burst`` must exceed ``reserve`` for ``try_take`` to succeed at all)."""

    def __init__(
        self,
        rate: float,
        burst: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        reserve: float = 0.0,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.reserve = reserve
        self._clock = clock
        self._tokens = burst
        self._at = clock()
        self._blocked_until = 0.0

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def block_for(self, seconds: float) -> None:
        """The platform said 429 / retry after: nobody sends until then."""
        self._blocked_until = max(self._blocked_until, self._clock() + seconds)
        self._tokens = 0.0

    def _take_now(self, keep: float) -> bool:
        self._refill()
        if self._clock() < self._blocked_until or self._tokens < 1.0 + keep:
            return False
        self._tokens -= 1.0
        return True

    def try_take(self) -> bool:
        return self._take_now(self.reserve)

    def wait_time(self) -> float:
        self._refill()
        return max(self._blocked_until - self._clock(), (1.0 - self._tokens) / self.rate, 0.0)

    async def take(self) -> None:
        # re-check at least twice a second: the rate or a block may change while we wait
        while not self._take_now(0.0):  # noqa: ASYNC110 - a token bucket refills with time, no event to wait on
            await asyncio.sleep(min(max(self.wait_time(), 0.01), 0.5))


class RateLimits:
    """One bucket per key (workspace, chat), created on first use."""

    def __init__(
        self,
        rate: float,
        burst: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        reserve: float = 0.0,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.reserve = reserve
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def __getitem__(self, key: str) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(
                self.rate, self.burst, self._clock, reserve=self.reserve
            )
        return bucket
